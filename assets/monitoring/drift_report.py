"""monitoring/<model>/drift_report: has the data moved away from what the champion learned from?

For a day D: the features of the last N days up to D against the champion's training set (PSI
per input: numeric binned on training quantiles, categorical by level), and, where labels have
arrived, the realized gate metric of what the champion served on those days against its holdout
value. sensors/drift.py reads the verdict and requests a retrain; this asset only measures and
explains.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.failures import permanent_failure
from assets.keys import FEATURES, MONITORING_GROUP, ModelKeys
from assets.partitions import daily_partitions, window_days
from assets.plots import bar_plot
from core import registry
from core.drift import drift_verdict, psi_table
from core.evaluation import for_people
from core.feature_table import read_features
from core.model_card import markdown_table
from core.model_spec import ModelSpec
from core.performance import gate_metric, served_out_of_sample
from resources.model_store import ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse


def build_drift_report(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    metric = spec.gate.metric

    @asset(
        key=keys.drift_report,
        group_name=MONITORING_GROUP,
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[FEATURES, keys.predictions],
        automation_condition=when_parents_change(),
        freshness_policy=DAILY_FRESHNESS,
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
        kinds={"duckdb"},
        description=f"{spec.name}: PSI per input vs the champion's training set, and the"
                    f" champion's recent {metric}.",
    )
    def drift_report(context: AssetExecutionContext, model_store: ModelStore,
                     warehouse: DuckDBWarehouse) -> MaterializeResult:
        _, day = window_days(context.partition_time_window)  # a range reports on its last day
        first = day - timedelta(days=spec.drift_window_days - 1)
        with warehouse.connect(read_only=True) as con:
            champion = registry.current_champion(con, spec.name)
            newest = registry.newest_model(con, spec.name)
            if champion is None:
                raise permanent_failure(
                    f"no champion to compare with: materialize {keys.champion.to_user_string()}")
            recent = read_features(con, first, day, spec.feature_model)
            served = served_out_of_sample(con, spec, champion.version, first, day)
        realized, scored_rows = gate_metric(spec, served), len(served)
        if recent.empty:
            raise permanent_failure(f"no features for {first}..{day}: nothing to measure")
        directory = Path(champion.artifact_dir)
        inputs = model_store.inputs_of(directory)
        reference = pd.read_parquet(
            Path(model_store.read_metadata(directory)["training_set_dir"]) / "train.parquet")
        table = psi_table(reference, recent, list(inputs.numeric), list(inputs.categorical))
        table["psi"] = table["psi"].round(4)
        holdout = champion.metrics.get(metric)
        drift, reason = drift_verdict(table, realized, holdout, spec)
        context.log.info(f"drift as of {day}: {'DRIFT' if drift else 'stable'} ({reason})")

        return MaterializeResult(metadata={
            "day": str(day),
            "window": f"{first}..{day}",
            "drift": drift,
            "reason": reason,
            "max_psi": float(table["psi"].max()),
            f"realized_{metric}": for_people(metric, realized),
            "labeled_rows": scored_rows,
            f"champion_holdout_{metric}": for_people(metric, holdout),
            "champion_version": champion.version,
            "newest_model_version": newest.version,
            "psi_by_feature": MetadataValue.md(markdown_table(table)),
            "psi_plot": bar_plot(table["feature"], table["psi"],
                                 f"PSI {first}..{day} vs training", "PSI",
                                 threshold=spec.psi_threshold),
        })

    return drift_report
