"""monitoring/drift_report: has the data moved away from what the champion learned from?

For a day D: the features of the last N days up to D against the champion's training set (PSI
per feature: numeric binned on training quantiles, categorical by level), and, where labels
have arrived, the realized AUC of what the champion served on those days against its holdout
AUC. sensors/drift.py reads
the verdict and requests a retrain; this asset only measures and explains.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.failures import permanent_failure
from assets.keys import DRIFT_REPORT, FEATURES, MONITORING_GROUP, PREDICTIONS
from assets.model_card import markdown_table
from assets.partitions import daily_partitions, window_days
from assets.plots import bar_plot
from core.drift import psi_table
from core.feature_table import LABEL, LABELS_TABLE, read_features, read_served_labeled
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse


def realized_auc(con, version: str, first, last) -> tuple[float | None, int]:
    """The AUC of the predictions ``version`` served for days first..last, against their labels
    (out-of-sample rows only; None without both classes)."""
    scored = read_served_labeled(con, version, first, last)
    if scored.empty or scored[LABEL].nunique() < 2:
        return None, len(scored)
    from sklearn.metrics import roc_auc_score  # at use: see core/modeling.py

    return float(roc_auc_score(scored[LABEL], scored["p_late"])), len(scored)


def drift_verdict(table: pd.DataFrame, auc: float | None, champion_auc: float | None,
                  policy: ModelPolicy) -> tuple[bool, str]:
    drifted = table.loc[table["psi"] > policy.psi_threshold, "feature"].tolist()
    reasons = []
    if drifted:
        reasons.append(f"PSI > {policy.psi_threshold} on {', '.join(drifted)}")
    if auc is not None and champion_auc is not None and auc < champion_auc - policy.auc_decay:
        reasons.append(f"AUC {auc:.3f} fell more than {policy.auc_decay} below the champion's "
                       f"holdout AUC {champion_auc:.3f}")
    return bool(reasons), "; ".join(reasons) or "no drift beyond the thresholds"


@asset(
    key=DRIFT_REPORT,
    group_name=MONITORING_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[FEATURES, PREDICTIONS],
    automation_condition=when_parents_change(),
    freshness_policy=DAILY_FRESHNESS,
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"duckdb"},
    description="PSI per feature vs the champion's training set, and the champion's recent AUC.",
)
def drift_report(
    context: AssetExecutionContext,
    model_policy: ModelPolicy,
    model_store: ModelStore,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    _, day = window_days(context.partition_time_window)  # a range run reports on its last day
    first = day - timedelta(days=model_policy.drift_window_days - 1)
    with warehouse.connect(read_only=True) as con:
        champion, newest = registry.current_champion(con), registry.newest_model(con)
        if champion is None:
            raise permanent_failure("no champion model to compare with: materialize ml/champion")
        recent = read_features(con, first, day)
        auc, scored_rows = realized_auc(con, champion.version, first, day)
        recent_positive_rate = con.execute(
            f"select avg({LABEL}::int) from {LABELS_TABLE} where flight_date between ? and ?",
            [first, day]).fetchall()[0][0]
    if recent.empty:
        raise permanent_failure(f"no features for {first}..{day}: nothing to measure")
    directory = Path(champion.artifact_dir)
    inputs = model_store.inputs_of(directory)
    reference = pd.read_parquet(
        Path(model_store.read_metadata(directory)["training_set_dir"]) / "train.parquet")
    table = psi_table(reference, recent, list(inputs.numeric), list(inputs.categorical))
    table["psi"] = table["psi"].round(4)
    champion_auc = champion.metrics.get("auc")
    drift, reason = drift_verdict(table, auc, champion_auc, model_policy)
    context.log.info(f"drift as of {day}: {'DRIFT' if drift else 'stable'} ({reason})")
    return MaterializeResult(
        metadata={
            "day": str(day),
            "window": f"{first}..{day}",
            "drift": drift,
            "reason": reason,
            "max_psi": float(table["psi"].max()),
            "realized_auc": None if auc is None else round(auc, 4),
            "labeled_rows": scored_rows,
            "champion_auc": champion_auc,
            "champion_version": champion.version,
            "newest_model_version": newest.version,
            "recent_positive_rate": None if recent_positive_rate is None
            else round(float(recent_positive_rate), 4),
            "psi_by_feature": MetadataValue.md(markdown_table(table)),
            "psi_plot": bar_plot(table["feature"], table["psi"], f"PSI {first}..{day} vs training",
                                 "PSI", threshold=model_policy.psi_threshold),
        }
    )
