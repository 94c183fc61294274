"""sensors/retrain: request a model's `retrain_<model>` job (training set -> model -> checks ->
evaluation -> gate) only on new evidence (core/monitor/retrain_policy.py): a week of new labels, a new
recipe, decay of the serving version, or feature drift where the spec asks for it.

Every tick states why it retrains or why not, with the figures. The run key is the cutoff and
the recipe: the same request, asked again on later ticks, launches nothing.
"""

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from assets.keys import ModelKeys
from assets.monitor.retrain import measured_triggers, retrain_decision
from core.train.model_spec import ModelSpec


def build_retrain_sensor(spec: ModelSpec):
    keys = ModelKeys(spec.name)

    @sensor(
        name=f"retrain_on_evidence_{spec.name}",
        job_name=keys.retrain_job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Retrains {spec.name} on new evidence only: {spec.min_new_label_days} new"
                    " labeled days, a changed recipe, decay of the serving version, or"
                    f" feature drift (spec: {spec.monitoring.feature_drift}).",
    )
    def retrain_on_evidence(context: SensorEvaluationContext):
        decision, recipe = retrain_decision(context.instance, spec,
                                            measured_triggers(context.instance, keys))
        if not decision.retrain:
            return SkipReason(decision.reason)
        context.log.info(f"retrain at cutoff {decision.cutoff}: {decision.reason}")
        return RunRequest(
            run_key=decision.run_key(recipe),
            partition_key=str(decision.cutoff),
            tags={"retrain/reason": decision.reason[:255],
                  "retrain/cutoff": str(decision.cutoff),
                  "retrain/recipe": recipe,
                  **{f"trigger/{t.name.replace(' ', '_')}": "fired" if t.fired else "no"
                     for t in decision.triggers}},
        )

    return retrain_on_evidence
