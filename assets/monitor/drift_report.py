"""monitoring/<model>/drift_report: has the serving model decayed, have its inputs drifted, and
would the platform retrain?

For a day D and the spec's window ending with D: the serving version's realized gate metric
from matured labels, with its interval, against its holdout value (decay, core/monitor/drift.py); each
input's PSI and p-value against a reference of the same length and season, with both sample
sizes (feature drift); and the retrain decision with every trigger, fired or not, and why
(core/monitor/retrain_policy.py). sensors/retrain.py acts on the same decision; this asset explains it.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.failures import permanent_failure
from assets.keys import FEATURES, MONITORING_GROUP, ModelKeys
from assets.monitor.retrain import MEASURED_TRIGGERS, retrain_decision
from assets.partitions import window_days
from assets.plots import bar_plot
from assets.policies import DAILY, WAREHOUSE_STEP, when_parents_change
from core.evaluate.metrics import for_people
from core.evaluate.model_card import markdown_table
from core.evaluate.uncertainty import Interval
from core.gate import registry
from core.monitor.drift import decay_trigger, drift_table, feature_drift_trigger, reference_window
from core.monitor.performance import realized_interval, served_out_of_sample
from core.train.model_spec import ModelSpec
from core.transform.feature_table import first_feature_day, read_features
from resources.model_store import ModelStore
from resources.warehouse import DuckDBWarehouse


def build_drift_report(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    metric, monitoring = spec.gate.metric, spec.monitoring

    @asset(
        key=keys.drift_report,
        group_name=MONITORING_GROUP,
        **DAILY, **WAREHOUSE_STEP,
        deps=[FEATURES, keys.predictions],
        automation_condition=when_parents_change(),
        kinds={"duckdb"},
        description=f"{spec.name}: decay of the serving version's {metric}, input drift against"
                    " the same season, and whether (and why) the platform retrains.",
    )
    def drift_report(context: AssetExecutionContext, model_store: ModelStore,
                     warehouse: DuckDBWarehouse) -> MaterializeResult:
        _, day = window_days(context.partition_time_window)  # a range reports on its last day
        first = day - timedelta(days=monitoring.window_days - 1)
        with warehouse.connect(read_only=True) as con:
            champion = registry.current_champion(con, spec.name)
            if champion is None:
                raise permanent_failure(
                    f"no champion to judge: materialize {keys.champion.to_user_string()}")
            recent = read_features(con, first, day, spec.feature_model)
            reference_first, reference_last, reference = reference_window(
                first, day, first_feature_day(con, spec.feature_model), champion.train_end)
            reference_rows = read_features(con, reference_first, reference_last,
                                           spec.feature_model)
            served = served_out_of_sample(con, spec, champion.version, first, day)
        if recent.empty or reference_rows.empty:
            raise permanent_failure(f"no features for {first}..{day} or for the reference"
                                    f" {reference_first}..{reference_last}: nothing to compare")
        realized = realized_interval(spec, served)
        stored = champion.metrics.get("gate_metric_interval")
        expected = Interval.from_dict(stored) if stored else None
        decay = decay_trigger(realized, expected, metric=metric,
                              higher_is_better=spec.gate.higher_is_better,
                              decay=monitoring.decay, min_rows=monitoring.min_rows)
        inputs = model_store.inputs_of(Path(champion.artifact_dir))
        table = drift_table(reference_rows, recent, list(inputs.numeric),
                            list(inputs.categorical))
        drift = feature_drift_trigger(table, monitoring.psi_threshold, monitoring.feature_drift,
                                      f"{reference} ({reference_first}..{reference_last})")
        decision, _ = retrain_decision(context.instance, spec, (decay, drift))
        context.log.info(f"{day}: {'RETRAIN' if decision.retrain else 'no retrain'}:"
                         f" {decision.reason}")

        shown = table.assign(psi=table["psi"].round(3),
                             p_value=table["p_value"].map(lambda p: None if pd.isna(p)
                                                          else float(f"{p:.2g}")))
        return MaterializeResult(metadata={
            "day": str(day),
            "window": f"{first}..{day}",
            "reference_window": f"{reference_first}..{reference_last} ({reference})",
            "decay": decay.fired,
            "feature_drift": drift.fired,
            "retrain": decision.retrain,
            "reason": decision.reason,
            "triggers": MetadataValue.md(markdown_table(pd.DataFrame(
                [t.as_dict() for t in decision.triggers]))),
            MEASURED_TRIGGERS: MetadataValue.json([decay.as_dict(), drift.as_dict()]),
            f"realized_{metric}": for_people(metric, realized.value) if realized else None,
            f"realized_{metric}_interval": MetadataValue.json(
                realized.as_dict() if realized else {}),
            "labeled_rows": len(served),
            f"champion_holdout_{metric}": for_people(metric, champion.metrics.get(metric)),
            "champion_version": champion.version,
            "max_psi": round(float(table["psi"].max()), 3),
            "psi_by_feature": MetadataValue.md(markdown_table(shown)),
            "psi_plot": bar_plot(table["feature"], table["psi"],
                                 f"PSI {first}..{day} vs {reference}", "PSI",
                                 threshold=monitoring.psi_threshold),
        })

    return drift_report
