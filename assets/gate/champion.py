"""ml/<model>/champion: the gate. The newest candidate (the challenger) replaces the champion
only with statistical evidence (core/gate/decision.py decides; this asset scores, records, explains).

Both models are scored on the labeled days neither trained on: the challenger's holdout, then
the shadow days whose labels have matured. The asset runs again as labels land (automation), so
a challenger in shadow is judged on more days each time until the gate decides. The decision,
its interval, rows and days are a row in ml.champion_decisions and in this asset's metadata.
"""

from datetime import timedelta
from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.failures import permanent_failure
from assets.gate.published import CHAMPION_VERSION
from assets.keys import LABELS, ML_GROUP, ModelKeys
from assets.plots import lines_plot
from assets.policies import WAREHOUSE_STEP, when_evidence_grows
from core.evaluate.metrics import for_people, task_metrics
from core.gate import registry
from core.gate.decision import decide, failed_checks, first_comparison_day, measure
from core.train.model_spec import ModelSpec
from core.transform.feature_table import labeled_days, read_labeled
from resources.model_store import ModelStore
from resources.warehouse import DuckDBWarehouse

# What each decision does to the challenger's stage (promote crowns it; wait and keep leave it).
STAGE_AFTER = {"approve": "approved", "hold": "held", "reject": "rejected"}


def build_champion(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    gate, metric = spec.gate, spec.gate.metric

    def daily_series(frame, predictions) -> tuple[list, list]:
        days = frame["flight_date"].dt.date
        points = [(day, task_metrics(spec.task, frame[spec.label][days == day],
                                     predictions[(days == day).to_numpy()],
                                     spec.flag_above)[metric]) for day in sorted(days.unique())]
        return [d for d, v in points if v is not None], [v for _, v in points if v is not None]

    @asset(
        key=keys.champion,
        group_name=ML_GROUP,
        deps=[AssetDep(keys.evaluation, partition_mapping=AllPartitionMapping()),
              AssetDep(LABELS, partition_mapping=AllPartitionMapping())],
        automation_condition=when_evidence_grows(),  # labels matured: judge the shadow again
        **WAREHOUSE_STEP,
        kinds={"onnx"},
        description=f"{spec.name}'s production model: a challenger is promoted only when the"
                    f" interval of its {metric} gain on days neither trained on lies above the"
                    f" margin ({gate.margin}; promotion: {gate.promotion}).",
    )
    def champion(context: AssetExecutionContext, model_store: ModelStore,
                 warehouse: DuckDBWarehouse) -> MaterializeResult:
        with warehouse.transaction() as con:
            challenger = registry.challenger(con, spec.name)
            incumbent = registry.current_champion(con, spec.name)
            evidence = new = old = None
            if challenger and incumbent and not failed_checks(challenger):
                first = first_comparison_day(challenger, incumbent)
                last = min(labeled_days(con, spec.label)[1],
                           first + timedelta(days=gate.max_days - 1))
                frame = read_labeled(con, first, last, spec.label, spec.feature_model)
                if not frame.empty:
                    new, old = (model_store.serve(Path(m.artifact_dir), frame, spec.task)
                                for m in (challenger, incumbent))
                    evidence = measure(gate, spec.task, frame["flight_date"], frame[spec.label],
                                       new, old, spec.flag_above)
            looks = registry.gate_looks(con, spec.name, challenger.version) if challenger else ()
            decision = decide(challenger, incumbent, evidence, gate,
                              registry.promotion_paused(con, spec.name), looks)
            if decision.action == "promote":
                registry.make_champion(con, challenger.version)
            elif decision.action in STAGE_AFTER:
                registry.set_stage(con, challenger.version, STAGE_AFTER[decision.action])
            after = registry.current_champion(con, spec.name)
            if challenger is not None:
                registry.record_decision(
                    con, model_name=spec.name, action=decision.action,
                    challenger=challenger.version,
                    champion_before=incumbent.version if incumbent else None,
                    champion_after=after.version if after else None,
                    reason=decision.reason, actor=keys.champion.to_user_string(),
                    details={"metric": metric, "promotion": gate.promotion,
                             **decision.details()})
        context.log.info(f"{decision.action}: {decision.reason}")
        if after is None:
            raise permanent_failure(f"there is no champion model: {decision.reason}")

        # Drawn once the warehouse is free again.
        plot = {} if new is None else {f"{metric}_by_day": lines_plot(
            {f"challenger {challenger.version}": daily_series(frame, new),
             f"champion {incumbent.version}": daily_series(frame, old)},
            f"{metric} per day neither trained on", metric)}
        look = decision.look
        interval = look.interval(evidence) if look else None
        return MaterializeResult(metadata={
            CHAMPION_VERSION: after.version,
            "decision": decision.action,
            "reason": decision.reason,
            "challenger_version": challenger.version if challenger else "",
            "previous_champion": incumbent.version if incumbent else "",
            f"challenger_{metric}": for_people(metric, evidence.challenger_value if evidence else None),
            f"champion_{metric}": for_people(metric, evidence.champion_value if evidence else None),
            f"{metric}_gain": for_people(metric, evidence.gain if evidence else None),
            # at this look's boundary: it excludes the margin exactly when the gate decides
            "gain_interval": MetadataValue.json(
                [for_people(metric, interval[0]), for_people(metric, interval[1])]
                if interval else []),
            "evidence_rows": evidence.rows if evidence else 0,
            "evidence_days": evidence.days if evidence else 0,
            "days_won": f"{evidence.wins} of {evidence.days}" if evidence else "",
            "days_lost": evidence.losses if evidence else 0,
            "look": MetadataValue.json(look.as_dict() if look else {}),
            "margin": gate.margin,
            **plot,
        })

    return champion
