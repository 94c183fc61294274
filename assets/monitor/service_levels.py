"""The pipeline's own service levels in the UI: monitoring/serving_artifacts probes each serving
model's ONNX (M7), monitoring/reproducibility retrains each champion on its stored training set
(M8), monitoring/service_levels shows every objective's indicator, error budget and burn rates
(platform/objectives.yaml), with plots over time. The first and the last run hourly, the
retrain daily (the schedules below); sensors/service_levels.py alerts on the same figures
between runs.
"""

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetSelection,
    DefaultScheduleStatus,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    define_asset_job,
)

from assets.monitor.indicators import (
    REPRODUCIBILITY,
    SERVICE_LEVELS,
    SERVING_ARTIFACTS,
    Sources,
    drift_reports,
    indicator_events,
    serving_runs,
)
from assets.plots import lines_plot
from assets.policies import WAREHOUSE_STEP
from core.evaluate.model_card import markdown_table
from core.gate import registry
from core.monitor.indicators import drift_alert_rate, latency_summary
from core.monitor.service_levels import Objective, budget, rule_states
from core.serve.artifact_probe import probe_artifact
from core.train.model_spec import ModelSpec
from core.train.reproduce import NotComparable, reproduction_problem
from resources.warehouse import DuckDBWarehouse

SERVICE_LEVELS_JOB, REPRODUCIBILITY_JOB = "service_levels", "reproducibility"
WEEK = timedelta(days=7)  # the latency figures' window


def build_service_level_assets(specs: list[ModelSpec], objectives: list[Objective],
                               sources: Sources):
    model_names = [spec.name for spec in specs]

    def probe_champions(context, warehouse: DuckDBWarehouse, probe) -> MaterializeResult:
        """``probe(version's lineage, its registry row)`` -> why it fails, "" when it passes,
        for each model's champion; a NotComparable version is skipped, saying why."""
        probes = []
        with warehouse.connect(read_only=True) as con:
            champions = [(name, registry.current_champion(con, name)) for name in model_names]
            lineages = {c.version: registry.lineage_of(con, c.version) for _, c in champions if c}
        for name, champion in champions:
            if champion is None:
                continue
            try:
                reason = probe(lineages[champion.version], champion)
            except NotComparable as why:
                context.log.info(f"{name} {champion.version}: not judged, {why}")
                continue
            probes.append({"model": name, "version": champion.version, "reason": reason})
            (context.log.error if reason else context.log.info)(
                f"{name} {champion.version}: {reason or 'passed'}")
        return MaterializeResult(metadata={
            "probes": MetadataValue.json(probes),
            "passed": sum(not p["reason"] for p in probes),
            "failed": sum(bool(p["reason"]) for p in probes),
        })

    @asset(key=SERVING_ARTIFACTS, group_name=SERVING_ARTIFACTS.path[0], kinds={"onnx"},
           **WAREHOUSE_STEP,
           description="Each serving model's ONNX: loads, and has the SHA-256 registered when"
                       " it was trained (the service level M7).")
    def serving_artifacts(context: AssetExecutionContext, warehouse: DuckDBWarehouse
                          ) -> MaterializeResult:
        return probe_champions(context, warehouse, lambda lineage, champion: probe_artifact(
            Path(champion.artifact_dir), lineage.get("onnx_sha256")))

    @asset(key=REPRODUCIBILITY, group_name=REPRODUCIBILITY.path[0], kinds={"sklearn", "onnx"},
           **WAREHOUSE_STEP,
           description="Each champion trained again on its stored training set with its recipe:"
                       " the same ONNX bytes (the service level M8).")
    def reproducibility(context: AssetExecutionContext, warehouse: DuckDBWarehouse
                        ) -> MaterializeResult:
        return probe_champions(context, warehouse,
                               lambda lineage, champion: reproduction_problem(lineage))

    @asset(key=SERVICE_LEVELS, group_name=SERVICE_LEVELS.path[0], deps=[SERVING_ARTIFACTS],
           description="The pipeline's service level indicators against their objectives"
                       " (platform/objectives.yaml): the good share, the error budget left and"
                       " the burn rates, with the days behind them.")
    def service_levels(context: AssetExecutionContext) -> MaterializeResult:
        now = datetime.now(timezone.utc)
        events = indicator_events(context.instance, objectives, now, sources)
        rows, metadata, series = [], {}, {}
        for objective in objectives:
            spent = budget(objective, events[objective.id], now)
            rows.append({
                "objective": f"{objective.id} {objective.name}",
                "target": f"{objective.target:.2%}",
                "good": "no events" if spent.good_share is None else f"{spent.good_share:.2%}",
                "events (bad)": f"{spent.total} ({spent.bad})",
                "budget left": f"{spent.remaining:.0%}",
                "burn rate over each rule's long window": ", ".join(
                    f"{state.rule.name} {state.long.rate:.1f}x" + (" FIRING" if state.fires else "")
                    for state in rule_states(objective, events[objective.id], now)),
            })
            metadata[f"{objective.id}_budget_left"] = round(spent.remaining, 3)
            if spent.good_share is not None:
                metadata[f"{objective.id}_good_share"] = round(spent.good_share, 4)
            series[f"{objective.id} {objective.name}"] = daily_good_share(events[objective.id])
        latency = latency_summary(serving_runs(context.instance, now - WEEK, sources))
        if latency:  # M2 as people read it: how long after landing a day is served
            metadata.update({"landing_to_served_mean_seconds": round(latency["mean_seconds"]),
                             "landing_to_served_p95_seconds": round(latency["p95_seconds"]),
                             "days_served_from_landings": latency["days"]})
        # M10 has no target: how often drift warned, and how often a decay followed it
        rate = drift_alert_rate(drift_reports(context.instance, now - 4 * WEEK, sources))
        metadata.update({"drift_alerts_28d": rate["drift_alerts"],
                         "drift_alerts_followed_by_decay_28d": rate["followed_by_decay"]})
        context.log.info("; ".join(f"{r['objective']}: {r['good']} good, budget left"
                                   f" {r['budget left']}" for r in rows))
        return MaterializeResult(metadata={
            **metadata,
            "objectives": MetadataValue.md(markdown_table(pd.DataFrame(rows))),
            "good_share_plot": lines_plot(series, "good share per day, per indicator",
                                          "good share"),
        })

    hourly = define_asset_job(SERVICE_LEVELS_JOB,
                              selection=AssetSelection.assets(serving_artifacts, service_levels),
                              description="Probe the serving artifacts, then compute the"
                                          " service levels.")
    daily = define_asset_job(REPRODUCIBILITY_JOB, selection=AssetSelection.assets(reproducibility),
                             description="Retrain each champion on its stored training set and"
                                         " compare the bytes.")
    schedules = [
        ScheduleDefinition(name="service_levels_hourly", job=hourly, cron_schedule="0 * * * *",
                           default_status=DefaultScheduleStatus.RUNNING),
        ScheduleDefinition(name="reproducibility_daily", job=daily, cron_schedule="30 3 * * *",
                           default_status=DefaultScheduleStatus.RUNNING),
    ]
    return [serving_artifacts, reproducibility, service_levels], [hourly, daily], schedules


def daily_good_share(events) -> tuple[list, list]:
    """The share of good events per day: the x and y of a plot."""
    days = defaultdict(lambda: [0, 0])
    for event in events:
        day = days[event.at.date()]
        day[0] += event.good
        day[1] += 1
    ordered = sorted(days)
    return ordered, [days[d][0] / days[d][1] for d in ordered]
