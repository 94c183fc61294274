"""monitoring/realized_performance: how the served predictions of each day did, per version.

When a day's labels land, its served predictions are joined to them: AUC, log loss, Brier,
positive rate, mean probability and calibration per serving version (monitoring.realized_
performance, one row per day and version), and over the trailing 7 and 28 days, with a plot of
the rolling AUC per version. This, not a mix of versions, is what judges a served model.
"""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.keys import LABELS, MONITORING_GROUP, PREDICTIONS, REALIZED_PERFORMANCE, table_of
from assets.model_card import markdown_table
from assets.partitions import daily_partitions, window_days
from assets.plots import lines_plot
from core.feature_table import LABEL, LABELS_TABLE
from core.performance import (
    DAILY_COLUMNS,
    daily_performance,
    rolling_auc_series,
    rolling_performance,
    round_for_people,
)
from resources.model_store import ModelPolicy
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

PERFORMANCE_TABLE = table_of(REALIZED_PERFORMANCE)
PERFORMANCE_DDL = f"""
create table if not exists {PERFORMANCE_TABLE} (
    flight_date date not null,
    model_version varchar not null,
    rows bigint not null,
    positive_rate double,
    mean_probability double,
    auc double,  -- null on a day with a single class
    log_loss double,
    brier double,
    calibration_error double
)
"""


@asset(
    key=REALIZED_PERFORMANCE,
    group_name=MONITORING_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[PREDICTIONS, LABELS],
    automation_condition=when_parents_change(),
    freshness_policy=DAILY_FRESHNESS,
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"duckdb"},
    description="The served predictions of each day against its labels, per model version.",
)
def realized_performance(context: AssetExecutionContext, model_policy: ModelPolicy,
                         warehouse: DuckDBWarehouse) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    threshold = model_policy.decision_threshold
    with warehouse.transaction() as con:
        scored = con.execute(
            f"select p.flight_date, p.model_version, p.p_late, p.in_sample, l.{LABEL}"
            f" from {table_of(PREDICTIONS)} p join {LABELS_TABLE} l using (flight_id, flight_date)"
            f" where p.flight_date <= ? and l.{LABEL} is not null", [last]).df()
        dates = scored["flight_date"].dt.date
        daily = daily_performance(scored[(dates >= first) & (dates <= last)], threshold)
        con.execute("create schema if not exists monitoring")
        con.execute(PERFORMANCE_DDL)
        con.execute(f"delete from {PERFORMANCE_TABLE} where flight_date between ? and ?",
                    [first, last])
        con.register("daily", daily)
        con.execute(f"insert into {PERFORMANCE_TABLE} by name select * from daily")
        con.unregister("daily")
    recent = scored[dates >= last - timedelta(days=27)]
    rolling = [rolling_performance(recent, last, days, threshold) for days in (7, 28)]
    last_day = daily[daily["flight_date"] == last]
    context.log.info(f"{first}..{last}: {len(daily)} day-version rows from {len(scored):,}"
                     " labeled predictions so far")
    return MaterializeResult(metadata={
        "day": str(last),
        "dagster/row_count": len(daily),
        "labeled_predictions": int(((dates >= first) & (dates <= last)).sum()),
        "versions_serving": MetadataValue.json(sorted(daily["model_version"].unique())),
        "day_by_version": MetadataValue.md(markdown_table(round_for_people(
            last_day[DAILY_COLUMNS[1:]]))),
        "rolling_7d": MetadataValue.md(markdown_table(round_for_people(rolling[0]))),
        "rolling_28d": MetadataValue.md(markdown_table(round_for_people(rolling[1]))),
        "rolling_auc_plot": lines_plot(rolling_auc_series(scored, 7),
                                       "realized AUC, trailing 7 days, per serving version",
                                       "AUC"),
    })
