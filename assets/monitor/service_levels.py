"""The pipeline's own service levels in the UI: monitoring/serving_artifacts probes each serving
model's ONNX (M7), monitoring/service_levels shows every objective's indicator, error budget and
burn rates (platform/objectives.yaml), with plots over time. Both run hourly (the schedule
below); sensors/service_levels.py alerts on the same figures between runs.
"""


from collections import defaultdict
from datetime import datetime, timezone
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

from assets.monitor.indicators import SERVICE_LEVELS, SERVING_ARTIFACTS, indicator_events
from assets.plots import lines_plot
from assets.policies import WAREHOUSE_STEP
from core.evaluate.model_card import markdown_table
from core.gate import registry
from core.monitor.service_levels import Objective, budget, burn, firing
from core.serve.artifact_probe import probe_artifact
from core.train.model_spec import ModelSpec
from resources.warehouse import DuckDBWarehouse

SERVICE_LEVELS_JOB = "service_levels"


def build_service_level_assets(specs: list[ModelSpec], objectives: list[Objective],
                               quarantine_dir: Path, ui_url: str):
    model_names = [spec.name for spec in specs]

    @asset(key=SERVING_ARTIFACTS, group_name=SERVING_ARTIFACTS.path[0], kinds={"onnx"},
           **WAREHOUSE_STEP,
           description="Each serving model's ONNX: loads, and has the SHA-256 registered when"
                       " it was trained (the service level M7).")
    def serving_artifacts(context: AssetExecutionContext, warehouse: DuckDBWarehouse
                          ) -> MaterializeResult:
        probes = []
        with warehouse.connect(read_only=True) as con:
            for name in model_names:
                champion = registry.current_champion(con, name)
                if champion is None:
                    continue
                reason = probe_artifact(Path(champion.artifact_dir),
                                        registry.registered_onnx_sha256(con, champion.version))
                probes.append({"model": name, "version": champion.version, "reason": reason})
                if reason:
                    context.log.error(f"{name} {champion.version}: {reason}")
        return MaterializeResult(metadata={
            "probes": MetadataValue.json(probes),
            "intact": sum(not p["reason"] for p in probes),
            "broken": sum(bool(p["reason"]) for p in probes),
        })

    @asset(key=SERVICE_LEVELS, group_name=SERVICE_LEVELS.path[0], deps=[SERVING_ARTIFACTS],
           description="The pipeline's service level indicators against their objectives"
                       " (platform/objectives.yaml): the good share, the error budget left and"
                       " the burn rates, with the days behind them.")
    def service_levels(context: AssetExecutionContext) -> MaterializeResult:
        now = datetime.now(timezone.utc)
        events = indicator_events(context.instance, objectives, now, quarantine_dir, ui_url)
        rows, metadata, series = [], {}, {}
        for objective in objectives:
            spent = budget(objective, events[objective.id], now)
            fired = {f.rule.name for f in firing(objective, events[objective.id], now)}
            rows.append({
                "objective": f"{objective.id} {objective.name}",
                "target": f"{objective.target:.2%}",
                "good": "no events" if spent.good_share is None else f"{spent.good_share:.2%}",
                "events (bad)": f"{spent.total} ({spent.bad})",
                "budget left": f"{spent.remaining:.0%}",
                "burn rate over each rule's long window": ", ".join(
                    f"{r.name} {burn(events[objective.id], now, r.long_window, objective.allowed_bad).rate:.1f}x"
                    + (" FIRING" if r.name in fired else "") for r in objective.rules),
            })
            metadata[f"{objective.id}_budget_left"] = round(spent.remaining, 3)
            if spent.good_share is not None:
                metadata[f"{objective.id}_good_share"] = round(spent.good_share, 4)
            series[f"{objective.id} {objective.name}"] = daily_good_share(events[objective.id])
        context.log.info("; ".join(f"{r['objective']}: {r['good']} good, budget left"
                                   f" {r['budget left']}" for r in rows))
        return MaterializeResult(metadata={
            **metadata,
            "objectives": MetadataValue.md(markdown_table(pd.DataFrame(rows))),
            "good_share_plot": lines_plot(series, "good share per day, per indicator",
                                          "good share"),
        })

    job = define_asset_job(SERVICE_LEVELS_JOB,
                           selection=AssetSelection.assets(serving_artifacts, service_levels),
                           description="Probe the serving artifacts, then compute the service"
                                       " levels.")
    schedule = ScheduleDefinition(name="service_levels_hourly", job=job, cron_schedule="0 * * * *",
                                  default_status=DefaultScheduleStatus.RUNNING)
    return [serving_artifacts, service_levels], job, schedule


def daily_good_share(events) -> tuple[list, list]:
    """The share of good events per day: the x and y of a plot."""
    days = defaultdict(lambda: [0, 0])
    for event in events:
        day = days[event.at.date()]
        day[0] += event.good
        day[1] += 1
    ordered = sorted(days)
    return ordered, [days[d][0] / days[d][1] for d in ordered]
