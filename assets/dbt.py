"""staging/* and features/*: the dbt project's models as Dagster assets, its tests as checks.

A run's partition window reaches dbt as the environment variables DBT_MIN_DATE/DBT_MAX_DATE, so
backfilling a range is one `dbt build` over that range. Environment variables, not --vars: dbt
re-parses the whole project whenever --vars change, but only the files that read an env var
whose value changed.
"""

from datetime import date
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Output
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.failures import permanent_failure
from assets.partitions import daily_partitions, window_days
from resources.dbt_project import environment
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

FEATURES_KEY = AssetKey(["features", "flight_features"])
# The dbt models a trained model's features come from: their code versions are its lineage.
DBT_FEATURE_LINEAGE = (
    AssetKey(["staging", "stg_flights"]),
    AssetKey(["staging", "stg_weather"]),
    FEATURES_KEY,
)


class FlightDelaysTranslator(DagsterDbtTranslator):
    """Keys follow the warehouse: a source raw.flights is the asset raw/flights (loaded by
    assets/raw.py); a model in models/staging is staging/<model>, and its group is staging."""

    def get_asset_key(self, dbt_resource_props) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return AssetKey([self._folder(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props) -> str | None:
        return self._folder(dbt_resource_props)

    def get_automation_condition(self, dbt_resource_props):
        # Rebuild a day when its raw data changes, and every day when the SQL changes.
        return when_parents_change()

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        if manifest["nodes"].get(unique_id, {}).get("resource_type") == "model":
            spec = spec.replace_attributes(freshness_policy=DAILY_FRESHNESS)
        return spec

    @staticmethod
    def _folder(dbt_resource_props) -> str:
        # fqn is [project, folder, ..., name]
        return dbt_resource_props["fqn"][1]


def dbt_window_env(first: date, last: date, warehouse_path: str) -> dict[str, str]:
    """The environment of a dbt build over an inclusive day range, into the given warehouse."""
    return {
        "DBT_MIN_DATE": first.isoformat(),
        "DBT_MAX_DATE": last.isoformat(),
        "WAREHOUSE_PATH": warehouse_path,  # read by profiles.yml
    }


def failure_is_transient(run_results: dict | None) -> bool:
    """Whether a failed dbt build may succeed when retried: only when the warehouse was held
    (DuckDB's file lock, e.g. an analyst's dbt run). A failing data test, a SQL error or a
    broken contract fails the same way every time: no retry."""
    if not run_results:
        return True  # dbt stopped before running anything: nothing says it is permanent
    messages = [result.get("message") or "" for result in run_results.get("results", [])
                if result.get("status") in ("error", "runtime error")]
    return any("lock" in message.lower() for message in messages)


def _cancelled_flights(warehouse: DuckDBWarehouse, first: date, last: date) -> int:
    """Flights in the window that flight_features leaves out: cancelled (no arrival delay)."""
    with warehouse.connect(read_only=True) as con:
        return con.execute(
            "select count(*) from raw.flights"
            " where partition_date between ? and ? and arr_delay is null",
            [first, last],
        ).fetchone()[0]


def build_dbt_assets(project: DbtProject, target_dir: Path):
    """``target_dir``: dbt's target path for this deployment, kept between runs so that dbt's
    partial parsing state (partial_parse.msgpack) carries over from one build to the next."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_flight_delays",
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=FlightDelaysTranslator(),
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
    )
    def dbt_flight_delays(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBWarehouse
    ):
        first, last = window_days(context.partition_time_window)
        # The dbt subprocess opens the file itself: hold the warehouse for it until it is done.
        with warehouse.exclusive_access():
            # Read before dbt starts: the dbt subprocess holds the DuckDB file while it runs.
            cancelled = _cancelled_flights(warehouse, first, last)
            context.log.info(f"dbt build for {first}..{last}")
            # The target folder is reused: what is in it must be this build's, or nothing.
            (Path(target_dir) / "run_results.json").unlink(missing_ok=True)
            with environment(**dbt_window_env(first, last, warehouse.path)):
                invocation = dbt.cli(["build"], context=context, target_path=target_dir)
            try:
                for event in invocation.stream():
                    if (
                        isinstance(event, Output)
                        and context.asset_key_for_output(event.output_name) == FEATURES_KEY
                    ):
                        event = event.with_metadata(
                            {**event.metadata, "cancelled_flights_excluded": cancelled}
                        )
                    yield event
            except DagsterDbtCliRuntimeError as error:
                run_results = (invocation.get_artifact("run_results.json")
                               if (Path(target_dir) / "run_results.json").exists() else None)
                if failure_is_transient(run_results):
                    raise
                raise permanent_failure(f"dbt build {first}..{last} failed: {error}") from error

    return dbt_flight_delays
