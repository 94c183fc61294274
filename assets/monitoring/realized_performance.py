"""monitoring/<model>/realized_performance: how the served predictions of each day did, per
version.

When a day's labels land, its served predictions are joined to them: the task's metrics per
serving version (monitoring.<model>_realized_performance, one row per day and version), and
over the trailing 7 and 28 days, with a plot of the gate's metric per version. This, not a mix
of versions, is what judges a served model.
"""

from datetime import timedelta

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.keys import LABELS, MONITORING_GROUP, ModelKeys, table_of
from assets.partitions import daily_partitions, window_days
from assets.plots import lines_plot
from core.feature_table import read_served_labeled
from core.model_card import markdown_table
from core.model_spec import ModelSpec
from core.performance import (
    daily_columns,
    daily_performance,
    rolling_metric_series,
    rolling_performance,
    round_for_people,
)
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse


def build_realized_performance(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    table = table_of(keys.realized_performance)
    metric = spec.gate.metric

    @asset(
        key=keys.realized_performance,
        group_name=MONITORING_GROUP,
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[keys.predictions, LABELS],
        automation_condition=when_parents_change(),
        freshness_policy=DAILY_FRESHNESS,
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
        kinds={"duckdb"},
        description=f"{spec.name}: the served predictions of each day against its labels, per"
                    f" model version ({table}).",
    )
    def realized_performance(context: AssetExecutionContext,
                             warehouse: DuckDBWarehouse) -> MaterializeResult:
        first, last = window_days(context.partition_time_window)
        with warehouse.transaction() as con:
            scored = read_served_labeled(con, spec.name, spec.label, last)
            dates = scored["flight_date"].dt.date
            daily = daily_performance(scored[(dates >= first) & (dates <= last)], spec.task,
                                      spec.flag_above)
            con.execute("create schema if not exists monitoring")
            # The table's columns are the task's metrics (core/performance.py).
            con.register("daily", daily)
            con.execute(f"create table if not exists {table} as select * from daily limit 0")
            con.execute(f"delete from {table} where flight_date between ? and ?", [first, last])
            con.execute(f"insert into {table} by name select * from daily")
            con.unregister("daily")
        recent = scored[dates >= last - timedelta(days=27)]
        rolling = [rolling_performance(recent, last, days, spec.task, spec.flag_above)
                   for days in (7, 28)]
        last_day = daily[daily["flight_date"] == last]
        context.log.info(f"{first}..{last}: {len(daily)} day-version rows from {len(scored):,}"
                         " labeled predictions so far")
        return MaterializeResult(metadata={
            "day": str(last),
            "dagster/row_count": len(daily),
            "labeled_predictions": int(((dates >= first) & (dates <= last)).sum()),
            "versions_serving": MetadataValue.json(sorted(daily["model_version"].unique())),
            "day_by_version": MetadataValue.md(markdown_table(round_for_people(
                last_day[daily_columns(spec.task)[1:]]))),
            "rolling_7d": MetadataValue.md(markdown_table(round_for_people(rolling[0]))),
            "rolling_28d": MetadataValue.md(markdown_table(round_for_people(rolling[1]))),
            f"rolling_{metric}_plot": lines_plot(
                rolling_metric_series(scored, 7, spec.task, metric, spec.flag_above),
                f"realized {metric}, trailing 7 days, per serving version", metric),
        })

    return realized_performance
