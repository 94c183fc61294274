"""The composition root: assembles the one Definitions object. No logic lives here.

Loaded by file (workspace.yaml: python_file), because a package named `platform` would shadow
the standard library's module of that name; the tools and tests import it by name (`make`
and pytest put platform/ on the path). Dagster calls ``defs`` when it loads the code location,
so importing this module builds nothing.
"""

import warnings

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    BetaWarning,
    DefaultSensorStatus,
    Definitions,
    FilesystemIOManager,
    PreviewWarning,
    define_asset_job,
    definitions,
    in_process_executor,
)

# Single-run backfill policies and pools are marked beta; we rely on them deliberately.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from assets.ingest.raw import raw_daily, raw_reference_assets  # noqa: E402
from assets.models import build_model_assets  # noqa: E402
from assets.monitor.indicators import Sources  # noqa: E402
from assets.monitor.service_levels import build_service_level_assets  # noqa: E402
from assets.policies import with_freshness  # noqa: E402
from assets.transform.dbt import build_dbt_assets  # noqa: E402
from assets.transform.point_in_time import PointInTimeAuditor, build_point_in_time_check  # noqa: E402
from core.monitor.service_levels import load_objectives  # noqa: E402
from core.train.model_spec import load_specs  # noqa: E402
from resources.dbt import build_dbt_project, build_dbt_resource  # noqa: E402
from resources.landing import LandingZone  # noqa: E402
from resources.model_store import ModelStore  # noqa: E402
from resources.settings import Settings  # noqa: E402
from resources.warehouse import DuckDBWarehouse  # noqa: E402
from sensors import build_sensors  # noqa: E402

DAILY_DATA_JOB = "daily_data"

# Runs the assets' automation conditions (features, predictions, drift report follow new data).
automation_sensor = AutomationConditionSensorDefinition(
    "automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


def build_definitions(settings: Settings, spec_overrides: dict[str, dict] | None = None
                      ) -> Definitions:
    """``spec_overrides`` ({model name: partial spec}) change a model spec without editing its
    file (tests; a deployment's stricter gate)."""
    dbt_project = build_dbt_project(settings.dbt_project_dir, settings.dbt_executable)
    dbt_daily, dbt_reference = build_dbt_assets(
        dbt_project, settings.dbt_target_dir, settings.prediction_lead_days,
        settings.dbt_runs == "in_process",
        settings.spark)
    # Every spec in model_specs/ is checked against the dbt manifest here, before any run.
    specs = load_specs(settings.model_specs_dir, dbt_project.manifest_path, spec_overrides)
    # Each feature model a spec reads is audited as of the prediction time (a blocking check;
    # every training set asks for its verdict first).
    auditors = {name: PointInTimeAuditor.from_manifest(
        dbt_project.manifest_path, name, settings.prediction_lead_days,
        settings.point_in_time_audit_days, settings.data_dir / "as_of")
        for name in sorted({spec.feature_model for spec in specs})}
    objectives = load_objectives(settings.objectives_file)
    sources = Sources.of(settings, specs)
    service_level_assets, service_level_jobs, service_level_schedules = (
        build_service_level_assets(specs, objectives, sources))
    models = [build_model_assets(spec, settings.prediction_lead_days,
                                 auditors[spec.feature_model]) for spec in specs]
    # A day (or a backfilled range) of data: the feeds in, staging, labels and features built.
    daily_data_job = define_asset_job(
        DAILY_DATA_JOB,
        selection=AssetSelection.assets(raw_daily, dbt_daily),
        description="Ingest the landing files of the selected days and build their features"
                    " and labels.",
    )
    return with_freshness(Definitions(
        assets=[*raw_reference_assets, raw_daily, dbt_reference, dbt_daily,
                *(asset for model in models for asset in model.assets), *service_level_assets],
        asset_checks=[*(build_point_in_time_check(auditor) for auditor in auditors.values()),
                      *(check for model in models for check in model.checks)],
        jobs=[daily_data_job, *(job for model in models for job in model.jobs),
              *service_level_jobs],
        schedules=service_level_schedules,
        sensors=[automation_sensor, *build_sensors(specs, dbt_daily, settings, objectives, sources)],
        resources={
            "warehouse": DuckDBWarehouse.of(settings),
            "landing": LandingZone(
                path=str(settings.landing_dir), quarantine_path=str(settings.quarantine_dir)
            ),
            "dbt": build_dbt_resource(dbt_project, settings.dbt_executable),
            "model_store": ModelStore(base_dir=str(settings.model_store_dir)),
            # Small hand-offs between assets (training-set and model references) are pickled
            # under the data dir, next to what they point at, not in the Dagster instance.
            "io_manager": FilesystemIOManager(base_dir=str(settings.data_dir / "io")),
        },
        # One process per run: a step subprocess costs seconds of imports and the work is
        # serial anyway (one writer on the warehouse).
        executor=in_process_executor,
    ))


@definitions
def defs() -> Definitions:
    return build_definitions(Settings.from_env())
