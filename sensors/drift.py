"""sensors/drift: request a model's retrain when its monitoring/<model>/drift_report says the
data has moved.

The report (assets/monitoring/drift_report.py) measures; this sensor decides. It fires at most once per
newest model: after a retrain the report names the new model, and only then may it fire again.
The reason and the figures travel in the run's tags.
"""

import json

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from assets.keys import ModelKeys
from core.model_spec import ModelSpec
from sensors.retrain import retrain_request


def build_drift_sensor(spec: ModelSpec):
    keys = ModelKeys(spec.name)

    @sensor(
        name=f"drift_{spec.name}",
        job_name=keys.retrain_job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Requests a retrain of {spec.name} when"
                    f" {keys.drift_report.to_user_string()} reports drift or decay.",
    )
    def drift_sensor(context: SensorEvaluationContext):
        state = json.loads(context.cursor) if context.cursor else {}
        records = context.instance.fetch_materializations(keys.drift_report, limit=1).records
        if not records:
            return SkipReason("no drift report yet")
        record = records[0]
        if record.storage_id == state.get("last_report"):
            return SkipReason("no new drift report")
        state["last_report"] = record.storage_id
        metadata = record.event_log_entry.asset_materialization.metadata
        report = {key: value.value for key, value in metadata.items()
                  if key in ("day", "drift", "reason", "max_psi", "champion_version",
                             "newest_model_version")}
        realized = metadata.get(f"realized_{spec.gate.metric}")
        context.update_cursor(json.dumps(state))

        if not report["drift"]:
            return SkipReason(f"{report['day']}: {report['reason']}")
        if state.get("fired_for_model") == report["newest_model_version"]:
            return SkipReason(f"{report['day']}: drift persists, but a retrain was already requested "
                              f"since model {report['newest_model_version']}; waiting for a new one")
        request = retrain_request(
            context.instance,
            f"drift-{spec.name}-{report['day']}-{report['newest_model_version']}",
            {
                "retrain/reason": f"drift: {report['reason']}"[:255],
                "drift/day": report["day"],
                "drift/max_psi": f"{report['max_psi']:.4f}",
                f"drift/realized_{spec.gate.metric}": "" if realized is None or realized.value is None
                else f"{realized.value:.4f}",
                "drift/champion_version": report["champion_version"],
            },
        )
        if isinstance(request, SkipReason):
            return request
        state["fired_for_model"] = report["newest_model_version"]
        context.update_cursor(json.dumps(state))
        context.log.info(f"retrain requested for cutoff {request.partition_key}: {report['reason']}")
        return request

    return drift_sensor
