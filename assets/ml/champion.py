"""ml/<model>/champion: promote the newest model of the spec only when it beats the champion
on unseen days (core/gate.py decides; this asset scores, records and explains).

The decision and its reason are a row in ml.champion_decisions and in this asset's metadata.
"""

from pathlib import Path

from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset

from assets.automation import WEEKLY_FRESHNESS
from assets.failures import permanent_failure
from assets.keys import ML_GROUP, ModelKeys
from core import registry
from core.evaluation import for_people, task_metrics
from core.feature_table import read_labeled
from core.gate import decide
from core.model_spec import ModelSpec
from core.modeling import onnx_predict
from resources.model_store import ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse


def build_champion(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    metric = spec.gate.metric

    @asset(
        key=keys.champion,
        group_name=ML_GROUP,
        deps=[AssetDep(keys.evaluation, partition_mapping=AllPartitionMapping())],
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
        kinds={"onnx"},
        freshness_policy=WEEKLY_FRESHNESS,
        description=f"{spec.name}'s production model: promoted from the newest model only when"
                    f" its {metric} is better by the spec's margin.",
    )
    def champion(context: AssetExecutionContext, model_store: ModelStore,
                 warehouse: DuckDBWarehouse) -> MaterializeResult:
        with warehouse.transaction() as con:
            challenger = registry.newest_model(con, spec.name)
            incumbent = registry.current_champion(con, spec.name)

            def score(model, window) -> float:
                frame = read_labeled(con, *window, spec.label, spec.feature_model)
                directory = Path(model.artifact_dir)
                predictions = onnx_predict(model_store.onnx_session(directory), frame,
                                           model_store.inputs_of(directory), spec.task)
                return task_metrics(spec.task, frame[spec.label], predictions,
                                    spec.flag_above)[metric]

            decision = decide(challenger, incumbent, score, spec.gate)
            if decision.action == "promote":
                registry.make_champion(con, challenger.version)
            after = registry.current_champion(con, spec.name)
            registry.record_decision(
                con, action=decision.action,
                challenger=challenger.version if challenger else None,
                champion_before=incumbent.version if incumbent else None,
                champion_after=after.version if after else None,
                reason=decision.reason, actor=keys.champion.to_user_string(),
                details={"metric": metric, "challenger_value": decision.challenger_value,
                         "champion_value": decision.champion_value,
                         "comparison_window": [str(d) for d in
                                               decision.comparison_window or ()]},
            )
        context.log.info(f"{decision.action}: {decision.reason}")
        if after is None:
            raise permanent_failure(f"there is no champion model: {decision.reason}")

        return MaterializeResult(metadata={
            "champion_version": after.version,
            "decision": decision.action,
            "reason": decision.reason,
            "challenger_version": challenger.version if challenger else "",
            "previous_champion": incumbent.version if incumbent else "",
            f"challenger_{metric}": for_people(metric, decision.challenger_value),
            f"champion_{metric}": for_people(metric, decision.champion_value),
        })

    return champion
