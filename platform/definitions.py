"""The composition root: assembles the one Definitions object. No logic lives here.

Loaded by file (workspace.yaml: python_file), because a package named `platform` would shadow
the standard library's module of that name.
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
    in_process_executor,
)

# Single-run backfill policies and pools are marked beta; we rely on them deliberately.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from assets.champion import champion  # noqa: E402
from assets.dbt import build_dbt_assets  # noqa: E402
from assets.drift_report import drift_report  # noqa: E402
from assets.evaluation import model_evaluation  # noqa: E402
from assets.models import auc_above_floor, build_delay_model, onnx_matches_sklearn  # noqa: E402
from assets.performance import realized_performance  # noqa: E402
from assets.raw import raw_daily, raw_reference_assets  # noqa: E402
from assets.scoring import predictions  # noqa: E402
from assets.training import build_training_set  # noqa: E402
from resources.dbt_project import build_dbt_project, build_dbt_resource  # noqa: E402
from resources.landing import LandingZone  # noqa: E402
from resources.model_store import ModelPolicy, ModelStore  # noqa: E402
from resources.settings import Settings  # noqa: E402
from resources.warehouse import DuckDBWarehouse  # noqa: E402
from sensors.alerts import build_alert_sensor  # noqa: E402
from sensors.drift import drift_sensor  # noqa: E402
from sensors.new_data import new_data_sensor  # noqa: E402
from sensors.retrain import RETRAIN_JOB, weekly_retrain_schedule  # noqa: E402

DAILY_DATA_JOB = "daily_data"

# Runs the assets' automation conditions (features, predictions, drift report follow new data).
automation_sensor = AutomationConditionSensorDefinition(
    "automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


def build_definitions(settings: Settings, model_policy: ModelPolicy | None = None) -> Definitions:
    dbt_project = build_dbt_project(settings.dbt_project_dir, settings.dbt_executable)
    dbt_daily, dbt_reference = build_dbt_assets(dbt_project, settings.dbt_target_dir,
                                                settings.prediction_lead_days)
    training_set = build_training_set(settings.prediction_lead_days)
    delay_model = build_delay_model(dbt_project.manifest_path)
    # A day (or a backfilled range) of data: the feeds in, staging, labels and features built.
    daily_data_job = define_asset_job(
        DAILY_DATA_JOB,
        selection=AssetSelection.assets(raw_daily, dbt_daily),
        description="Ingest the landing files of the selected days and build their features"
                    " and labels.",
    )
    # Training set -> model -> checks -> evaluation -> promotion, for one cutoff week.
    retrain_job = define_asset_job(
        RETRAIN_JOB,
        selection=AssetSelection.assets(training_set, delay_model, model_evaluation, champion),
        description="Retrain at a cutoff and promote the model only if it beats the champion.",
    )
    return Definitions(
        assets=[
            *raw_reference_assets,
            raw_daily,
            dbt_reference,
            dbt_daily,
            training_set,
            delay_model,
            model_evaluation,
            champion,
            predictions,
            realized_performance,
            drift_report,
        ],
        asset_checks=[onnx_matches_sklearn, auc_above_floor],
        jobs=[daily_data_job, retrain_job],
        schedules=[weekly_retrain_schedule],
        sensors=[
            new_data_sensor,
            automation_sensor,
            drift_sensor,
            build_alert_sensor(settings.data_dir / "alerts.jsonl"),
        ],
        resources={
            "warehouse": DuckDBWarehouse(
                path=str(settings.warehouse_path),
                lock_wait_seconds=settings.warehouse_lock_wait_seconds,
            ),
            "landing": LandingZone(
                path=str(settings.landing_dir), quarantine_path=str(settings.quarantine_dir)
            ),
            "dbt": build_dbt_resource(dbt_project, settings.dbt_executable),
            "model_store": ModelStore(base_dir=str(settings.model_store_dir)),
            "model_policy": model_policy or ModelPolicy(),
            # Small hand-offs between assets (training-set and model references) are pickled
            # under the data dir, next to what they point at, not in the Dagster instance.
            "io_manager": FilesystemIOManager(base_dir=str(settings.data_dir / "io")),
        },
        # One process per run: a step subprocess costs seconds of imports and the work is
        # serial anyway (one writer on the warehouse).
        executor=in_process_executor,
    )


defs = build_definitions(Settings.from_env())
