"""monitoring/drift_report: has the data moved away from what the champion learned from?

For a day D: the features of the last N days up to D against the champion's training set (PSI
per feature: numeric binned on training quantiles, categorical by level), and, where labels
have arrived, the champion's AUC on those days against its holdout AUC. sensors/drift.py reads
the verdict and requests a retrain; this asset only measures and explains.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.dbt import FEATURES_KEY
from assets.drift import psi_table
from assets.failures import permanent_failure
from assets.model_card import markdown_table
from assets.modeling import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES
from assets.partitions import daily_partitions, window_days
from assets.plots import bar_plot
from assets.scoring import PREDICTIONS_KEY
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

DRIFT_KEY = AssetKey(["monitoring", "drift_report"])
# month is left out: in a walk-forward year every new month is "drift" by construction, and
# retraining cannot fix a calendar. Weather, routes and the rest can move for real.
MONITORED_NUMERIC = [c for c in NUMERIC_FEATURES if c != "month"]


def rolling_auc(con, first, last) -> tuple[float | None, int]:
    """The champion's scores against the labels of the days first..last (None without both
    classes)."""
    scored = con.execute(
        "select p.p_delayed, f.is_delayed from ml.predictions p"
        " join features.flight_features f using (flight_id)"
        " where p.flight_date between ? and ?",
        [first, last],
    ).df()
    if scored.empty or scored["is_delayed"].nunique() < 2:
        return None, len(scored)
    from sklearn.metrics import roc_auc_score  # at use: see assets/modeling.py

    return float(roc_auc_score(scored["is_delayed"], scored["p_delayed"])), len(scored)


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
    key=DRIFT_KEY,
    group_name="monitoring",
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[FEATURES_KEY, PREDICTIONS_KEY],
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
        recent = con.execute(
            "select * from features.flight_features where flight_date between ? and ?",
            [first, day],
        ).df()
        auc, scored_rows = rolling_auc(con, first, day)
    if recent.empty:
        raise permanent_failure(f"no features for {first}..{day}: nothing to measure")
    lineage = model_store.read_metadata(Path(champion.artifact_dir))
    reference = pd.read_parquet(Path(lineage["training_set_dir"]) / "train.parquet")

    table = psi_table(reference, recent, MONITORED_NUMERIC, CATEGORICAL_FEATURES)
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
            "rolling_auc": auc,
            "scored_rows": scored_rows,
            "champion_auc": champion_auc,
            "champion_version": champion.version,
            "newest_model_version": newest.version,
            "recent_delay_rate": round(float(recent[LABEL].mean()), 4),
            "psi_by_feature": MetadataValue.md(markdown_table(table)),
            "psi_plot": bar_plot(table["feature"], table["psi"], f"PSI {first}..{day} vs training",
                                 "PSI", threshold=model_policy.psi_threshold),
        }
    )
