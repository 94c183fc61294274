"""ml/champion: promote the newest model only when it beats the champion on unseen days.

The challenger is the newest model partition (latest cutoff). Both models are scored on the
same comparison set: labeled days that neither trained on, i.e. the challenger's holdout days
from the later of the two cutoffs on. The challenger must pass its blocking checks and beat the
champion's AUC by the policy's margin; otherwise the champion stays. Either way the decision
and its reason are a row in ml.champion_decisions and in this asset's metadata.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from assets.automation import WEEKLY_FRESHNESS
from assets.failures import permanent_failure
from assets.keys import CHAMPION, EVALUATION, ML_GROUP
from core.evaluation import classification_metrics
from core.feature_table import LABEL, read_labeled
from core.modeling import onnx_predict_proba
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

REQUIRED_CHECKS = ("onnx_matches_sklearn", "auc_above_floor")


@dataclass(frozen=True)
class Decision:
    action: str  # promote | keep
    reason: str
    comparison_window: tuple[date, date] | None = None
    challenger_auc: float | None = None
    champion_auc: float | None = None


def failed_checks(model: registry.RegisteredModel) -> list[str]:
    return [name for name in REQUIRED_CHECKS if not model.checks.get(name, {}).get("passed")]


def comparison_window(challenger, champion) -> tuple[date, date] | None:
    """Labeled days neither model trained on: the challenger's holdout, after both cutoffs."""
    start = max(challenger.holdout_start, champion.holdout_start)
    return (start, challenger.holdout_end) if start <= challenger.holdout_end else None


def decide(challenger, champion, score, margin: float) -> Decision:
    """``score(model, window) -> AUC``; returns what to do and why."""
    if challenger is None:
        return Decision("keep", "no model has been trained yet")
    failed = failed_checks(challenger)
    if failed:
        return Decision("keep", f"challenger {challenger.version} did not pass {failed}")
    if champion is None:
        return Decision("promote", f"no champion yet; {challenger.version} passed its checks")
    if champion.version == challenger.version:
        return Decision("keep", f"{challenger.version} is already the champion")
    window = comparison_window(challenger, champion)
    if window is None:
        return Decision("keep", "no labeled days that neither model trained on")
    challenger_auc, champion_auc = score(challenger, window), score(champion, window)
    if challenger_auc >= champion_auc + margin:
        verdict, action = "beats", "promote"
    else:
        verdict, action = "does not beat", "keep"
    return Decision(
        action,
        f"challenger AUC {challenger_auc:.4f} {verdict} champion AUC {champion_auc:.4f} "
        f"+ margin {margin} on {window[0]}..{window[1]}",
        window, challenger_auc, champion_auc,
    )


@asset(
    key=CHAMPION,
    group_name=ML_GROUP,
    deps=[AssetDep(EVALUATION, partition_mapping=AllPartitionMapping())],
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"onnx"},
    freshness_policy=WEEKLY_FRESHNESS,
    description="The production model: promoted from the newest model only when it is better.",
)
def champion(
    context: AssetExecutionContext,
    model_policy: ModelPolicy,
    model_store: ModelStore,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    with warehouse.transaction() as con:
        challenger, incumbent = registry.newest_model(con), registry.current_champion(con)

        def score(model, window) -> float:
            frame = read_labeled(con, *window)
            directory = Path(model.artifact_dir)
            p = onnx_predict_proba(model_store.onnx_session(directory), frame,
                                   model_store.inputs_of(directory))
            return classification_metrics(frame[LABEL], p, model_policy.decision_threshold)["auc"]

        decision = decide(challenger, incumbent, score, model_policy.promotion_margin)
        if decision.action == "promote":
            registry.make_champion(con, challenger.version)
        after = registry.current_champion(con)
        registry.record_decision(
            con, action=decision.action,
            challenger=challenger.version if challenger else None,
            champion_before=incumbent.version if incumbent else None,
            champion_after=after.version if after else None,
            reason=decision.reason, actor="ml/champion",
            details={"challenger_auc": decision.challenger_auc,
                     "champion_auc": decision.champion_auc,
                     "comparison_window": [str(d) for d in decision.comparison_window or ()]},
        )
    context.log.info(f"{decision.action}: {decision.reason}")
    if after is None:
        raise permanent_failure(f"there is no champion model: {decision.reason}")
    return MaterializeResult(
        metadata={
            "champion_version": after.version,
            "decision": decision.action,
            "reason": decision.reason,
            "challenger_version": challenger.version if challenger else "",
            "previous_champion": incumbent.version if incumbent else "",
            "challenger_auc": decision.challenger_auc,
            "champion_auc": decision.champion_auc,
        }
    )
