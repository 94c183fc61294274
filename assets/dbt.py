"""staging/* and features/*: the dbt project's models as Dagster assets, its tests as checks.

A run's partition window becomes the dbt vars min_date/max_date, so backfilling a range is one
`dbt build` over that range.
"""

import json
import shutil
from datetime import date

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Output
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.partitions import daily_partitions, window_days
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


def dbt_vars_for_days(first: date, last: date, warehouse_path: str) -> dict[str, str]:
    """The dbt --vars for an inclusive day range, written into the given warehouse file."""
    return {
        "min_date": first.isoformat(),
        "max_date": last.isoformat(),
        "warehouse_path": warehouse_path,  # read by profiles.yml
    }


def _cancelled_flights(warehouse: DuckDBWarehouse, first: date, last: date) -> int:
    """Flights in the window that flight_features leaves out: cancelled (no arrival delay)."""
    with warehouse.connect(read_only=True) as con:
        return con.execute(
            "select count(*) from raw.flights"
            " where partition_date between ? and ? and arr_delay is null",
            [first, last],
        ).fetchone()[0]


def build_dbt_assets(project: DbtProject):
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
            dbt_vars = dbt_vars_for_days(first, last, warehouse.path)
            context.log.info(f"dbt build for {first}..{last}")
            invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context)
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
            finally:
                # dagster-dbt writes a fresh target folder per invocation (~1.2 MB each).
                shutil.rmtree(invocation.target_path, ignore_errors=True)

    return dbt_flight_delays
