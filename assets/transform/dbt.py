"""staging/*, labels/*, features/*: the dbt project's models as Dagster assets, its tests as checks.

Two definitions: the daily models, partitioned by day (a run's window reaches dbt as the
environment variables DBT_MIN_DATE/DBT_MAX_DATE, so backfilling a range is one `dbt build`),
and the reference models (tag `reference`, e.g. stg_planes), which have no days.

Environment variables, not --vars: dbt re-parses the whole project whenever --vars change, but
only the files that read an env var whose value changed.
"""

import json
import shutil
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    PartitionMapping,
    TimeWindowPartitionMapping,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from assets.failures import permanent_failure
from assets.ingest.landing_batch import wait_for_the_rest_of_the_landing
from assets.keys import raw_key
from assets.partitions import daily_partitions, window_days
from assets.policies import WAREHOUSE_STEP, when_parents_change
from internals.dbt_in_process import stream_dbt_build
from resources.dbt import environment
from resources.warehouse import DuckDBWarehouse
from spark import lake
from spark.connection import SPARK_POOL, SparkConnection
from spark.executor_watch import ExecutorWatch

REFERENCE_TAG = "reference"
# The models with their data tests and unit tests: the platform's builds judge an edit as an
# analyst's `dbt build` does (the point-in-time unit test of the features among them).
BUILD_ARGS = ["build"]


class FlightDelaysTranslator(DagsterDbtTranslator):
    """Keys follow the warehouse: source raw.schedule is raw/schedule (loaded by assets/ingest/raw.py),
    a model in models/features is features/<model>, in group features.

    A model may read earlier days of a parent: its YAML says how many, as of the prediction
    time (meta ``days_read``: {parent: N} = the N days up to D - prediction_lead_days), and
    that becomes the dependency's partition mapping, so Dagster knows which parent days a day
    of the model is made of."""

    def __init__(self, prediction_lead_days: int):
        super().__init__()
        self.prediction_lead_days = prediction_lead_days

    def get_asset_key(self, dbt_resource_props) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return raw_key(dbt_resource_props["name"])
        return AssetKey([self._folder(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props) -> str | None:
        return self._folder(dbt_resource_props)

    def get_automation_condition(self, dbt_resource_props):
        # Rebuild a day when its parents' days change, and every day when the SQL changes.
        return when_parents_change()

    def get_partition_mapping(self, dbt_resource_props, dbt_parent_resource_props
                              ) -> PartitionMapping | None:
        days_read = (dbt_resource_props.get("config", {}).get("meta", {}) or {}).get("days_read", {})
        days = days_read.get(dbt_parent_resource_props.get("name"))
        if not days:
            return None  # the same day
        lead = self.prediction_lead_days
        return TimeWindowPartitionMapping(start_offset=-(days + lead - 1), end_offset=-lead,
                                          allow_nonexistent_upstream_partitions=True)

    @staticmethod
    def _folder(dbt_resource_props) -> str:
        # fqn is [project, folder, ..., name]
        return dbt_resource_props["fqn"][1]


# Read by dbt_project/macros/flights.sql only when dbt compiles SQL to run, never while parsing,
# so that one parsed project serves every window.
MIN_DATE_ENV, MAX_DATE_ENV = "DBT_MIN_DATE", "DBT_MAX_DATE"
WINDOW_ENV = (MIN_DATE_ENV, MAX_DATE_ENV)


def dbt_window_env(first: date, last: date, warehouse_path: str) -> dict[str, str]:
    """The environment of a dbt build over an inclusive day range, into the given warehouse."""
    return {
        MIN_DATE_ENV: first.isoformat(),
        MAX_DATE_ENV: last.isoformat(),
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


@contextmanager
def _watched_driver(spark: SparkConnection | None, in_process: bool):
    """On Spark, with dbt in this process: open the driver dbt's session method will take (the
    same settings, spark/connection.py), bound its wait for executors (ExecutorWatch), and stop
    it when the build ends, so that a build holds the cluster's cores only while it runs (the
    pool SPARK_POOL counts builds). dbt in a process of its own (DBT_RUNS=subprocess) keeps its
    driver there, unwatched."""
    if spark is None or not in_process:
        yield None
        return
    driver = spark.session("dbt")
    try:
        with ExecutorWatch(driver, spark.executor_wait_seconds) as watch:
            yield watch
    finally:
        driver.stop()


def _build(context, dbt: DbtCliResource, warehouse: DuckDBWarehouse, deployment_target: Path,
           env: dict[str, str], what: str, in_process: bool, spark: SparkConnection | None):
    # On DuckDB, dbt opens the file with a connection of its own: hold the warehouse until it is
    # done. On Spark, dbt writes the lake alone: builds of other days go side by side, each in a
    # target folder of its own (dbt's artifacts are one invocation's), removed once it succeeded
    # but for its run_results.json, which goes where a build on DuckDB leaves it.
    holding = warehouse.exclusive_access() if spark is None else nullcontext()
    target_dir = deployment_target / "runs" / context.run.run_id if spark else deployment_target
    with holding, _watched_driver(spark, in_process) as watch:
        context.log.info(f"dbt build for {what}")
        # The target folder is reused: what is in it must be this build's, or nothing.
        run_results = Path(target_dir) / "run_results.json"
        run_results.unlink(missing_ok=True)
        try:
            with environment(**env):
                if in_process:  # internals/dbt_in_process.py: no process, one parse
                    yield from stream_dbt_build(BUILD_ARGS, context=context, dbt=dbt,
                                                target_path=target_dir,
                                                parse_independent_env=WINDOW_ENV)
                else:  # dagster-dbt's own: a dbt process per build
                    yield from dbt.cli(BUILD_ARGS, context=context,
                                       target_path=target_dir).stream()
        except DagsterDbtCliRuntimeError as error:
            if watch and watch.reason:
                raise permanent_failure(f"dbt build for {what} failed: {watch.reason}") from error
            results = json.loads(run_results.read_text()) if run_results.exists() else None
            if failure_is_transient(results):
                raise
            raise permanent_failure(f"dbt build for {what} failed: {error}") from error
        if spark:
            shutil.copy(run_results, deployment_target / run_results.name)
            shutil.rmtree(target_dir)
        if warehouse.lake_dir:
            with warehouse.transaction() as con:
                shown = lake.show_built_tables(con, Path(warehouse.lake_dir))
            context.log.info(f"the warehouse file shows the lake's {', '.join(shown)}")


def build_dbt_assets(project: DbtProject, target_dir: Path, prediction_lead_days: int,
                     in_process: bool = True, spark: SparkConnection | None = None):
    """``target_dir``: dbt's target path for this deployment, kept between runs so that dbt's
    partial parsing state (partial_parse.msgpack) carries over from one build to the next.
    ``spark``: the cluster dbt's spark target builds on, if not the embedded DuckDB."""
    engine_env = spark.dbt_environment() if spark else {}
    step = {**WAREHOUSE_STEP, "pool": SPARK_POOL} if spark else WAREHOUSE_STEP
    translator = FlightDelaysTranslator(prediction_lead_days)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_daily",
        exclude=f"tag:{REFERENCE_TAG}",
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        **step,
    )
    def dbt_daily(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBWarehouse):
        wait_for_the_rest_of_the_landing(context)
        first, last = window_days(context.partition_time_window)
        yield from _build(context, dbt, warehouse, target_dir,
                          {**dbt_window_env(first, last, warehouse.path), **engine_env},
                          f"{first}..{last}", in_process, spark)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_reference",
        select=f"tag:{REFERENCE_TAG}",
        dagster_dbt_translator=translator,
        **step,
    )
    def dbt_reference(context: AssetExecutionContext, dbt: DbtCliResource,
                      warehouse: DuckDBWarehouse):
        yield from _build(context, dbt, warehouse, target_dir,
                          {"WAREHOUSE_PATH": warehouse.path, **engine_env}, "the reference models",
                          in_process, spark)

    return [dbt_daily, dbt_reference]
