"""monitoring/<model>/realized_performance: how the served predictions of each day did, per
version.

When a day's labels land, its served predictions are joined to them: the task's metrics per
serving version (monitoring.<model>_realized_performance, one row per day and version), and
over the trailing 7 and 28 days, with a plot of the gate's metric per version. This, not a mix
of versions, is what judges a served model. For a classifier, a day is also estimated as soon
as it is served, before its labels (core/monitor/estimation.py), and the estimate's error is kept once
they land.
"""

from datetime import timedelta

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.keys import LABELS, MONITORING_GROUP, ModelKeys, table_of
from assets.partitions import window_days
from assets.plots import lines_plot
from assets.policies import DAILY, WAREHOUSE_STEP, when_parents_change
from core.evaluate.model_card import markdown_table
from core.gate import registry
from core.monitor.performance import (
    daily_estimates,
    daily_performance,
    rolling_metric_series,
    rolling_performance,
    round_for_people,
    with_estimates,
)
from core.train.model_spec import ModelSpec
from core.transform.feature_table import read_served_labeled
from resources.warehouse import DuckDBWarehouse


def build_realized_performance(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    table = table_of(keys.realized_performance)
    metric = spec.gate.metric

    @asset(
        key=keys.realized_performance,
        group_name=MONITORING_GROUP,
        **DAILY, **WAREHOUSE_STEP,
        deps=[keys.predictions, LABELS],
        automation_condition=when_parents_change(),
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
            if spec.is_classifier:  # estimated before the labels land, then checked
                served = read_served_labeled(con, spec.name, spec.label, last, first,
                                             labeled_only=False)
                calibrations = {version: (registry.get_model(con, version).metrics
                                          .get("calibration_map"))
                                for version in served["model_version"].unique()}
                daily = with_estimates(daily, daily_estimates(served, calibrations))
            con.execute("create schema if not exists monitoring")
            # The table's columns are the task's metrics (core/monitor/performance.py).
            con.register("daily", daily)
            con.execute(f"create table if not exists {table} as select * from daily limit 0")
            add_missing_columns(con, table, "daily")
            con.execute(f"delete from {table} where flight_date between ? and ?", [first, last])
            con.execute(f"insert into {table} by name select * from daily")
            con.unregister("daily")
            history = con.execute(f"select * from {table} where flight_date between ? and ?",
                                  [last - timedelta(days=55), last]).df()
        recent = scored[dates >= last - timedelta(days=27)]
        rolling = [rolling_performance(recent, last, days, spec.task, spec.flag_above)
                   for days in (7, 28)]
        last_day = daily[daily["flight_date"] == last]
        estimates = _estimate_metadata(history, last) if spec.is_classifier else {}
        context.log.info(f"{first}..{last}: {len(daily)} day-version rows from {len(scored):,}"
                         " labeled predictions so far")
        return MaterializeResult(metadata={
            "day": str(last),
            "dagster/row_count": len(daily),
            "labeled_predictions": int(((dates >= first) & (dates <= last)).sum()),
            "versions_serving": MetadataValue.json(sorted(daily["model_version"].unique())),
            "day_by_version": MetadataValue.md(markdown_table(round_for_people(
                last_day.drop(columns="flight_date")))),
            "rolling_7d": MetadataValue.md(markdown_table(round_for_people(rolling[0]))),
            "rolling_28d": MetadataValue.md(markdown_table(round_for_people(rolling[1]))),
            f"rolling_{metric}_plot": lines_plot(
                rolling_metric_series(scored, 7, spec.task, metric, spec.flag_above),
                f"realized {metric}, trailing 7 days, per serving version", metric),
            **estimates,
        })

    return realized_performance


def add_missing_columns(con, table: str, frame_name: str) -> None:
    """Columns the code now writes that an older table lacks (the estimates) are added."""
    existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
    for name, kind, *_ in con.execute(f"describe {frame_name}").fetchall():
        if name not in existing:
            con.execute(f'alter table {table} add column "{name}" {kind}')


def _estimate_metadata(history: pd.DataFrame, last) -> dict:
    """The estimate of the newest day, how wrong the estimates were once the labels landed
    (trailing 28 labeled days), and a plot of estimated against realized AUC."""
    history = history.assign(flight_date=pd.to_datetime(history["flight_date"]).dt.date)
    checked = history.dropna(subset=["estimate_error"])
    checked = checked[checked["flight_date"] > last - timedelta(days=28)]
    newest = history[history["flight_date"] == last]
    series = {}
    for version, group in history.sort_values("flight_date").groupby("model_version"):
        series[f"estimated {version}"] = (list(group["flight_date"]),
                                          list(group["estimated_auc"].astype(float)))
        labeled = group.dropna(subset=["auc"])
        series[f"realized {version}"] = (list(labeled["flight_date"]),
                                         list(labeled["auc"].astype(float)))
    return {
        "estimated_auc": round(float(newest["estimated_auc"].mean()), 4)
        if newest["estimated_auc"].notna().any() else None,
        "estimate_mean_abs_error_28d": round(float(checked["estimate_error"].abs().mean()), 4)
        if len(checked) else None,
        "estimate_checked_days": len(checked),
        "estimated_vs_realized_auc_plot": lines_plot(
            series, "AUC per day: estimated before the labels, realized after", "auc"),
    }
