"""sensors/serving: a new champion serves the days that have not flown yet.

Days are served the evening before (ml/<model>/predictions). When the champion changes
afterwards (the gate promoted a challenger, an operator promoted one or rolled back), the
days already served but whose outcomes have not landed are served again by the new champion;
days that have flown keep what was served (core/serve/serving.py). Read from the instance only: each
open day's latest predictions name the version that served them.
"""

from datetime import date

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from assets.gate.published import champion_version
from assets.keys import ModelKeys
from assets.monitor.retrain import last_labeled_day
from assets.records import latest_metadata
from core.train.model_spec import ModelSpec


def build_serving_sensor(spec: ModelSpec):
    keys = ModelKeys(spec.name)

    @sensor(
        name=f"serve_new_champion_{spec.name}",
        asset_selection=[keys.predictions],
        minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"When {spec.name}'s champion changes, serves again the days not flown yet.",
    )
    def serve_new_champion(context: SensorEvaluationContext):
        champion = champion_version(context.instance, keys)
        if not champion:
            return SkipReason("no champion yet")
        flown = last_labeled_day(context.instance) or date.min
        open_days = sorted(day for day in
                           context.instance.get_materialized_partitions(keys.predictions)
                           if date.fromisoformat(day) > flown)
        stale = [day for day in open_days if latest_metadata(
            context.instance, keys.predictions, day).get("model_version") != champion]
        if not stale:
            return SkipReason(f"every day not flown yet ({', '.join(open_days) or 'none'}) is"
                              f" served by the champion {champion}")
        context.log.info(f"champion {champion}: serving {', '.join(stale)} again")
        return [RunRequest(run_key=f"{champion}:{day}", partition_key=day,
                           asset_selection=[keys.predictions],
                           tags={"serving/champion": champion}) for day in stale]

    return serve_new_champion
