"""What a retrain is: a model's `retrain_<model>` job (training set -> model -> checks ->
evaluation -> promotion) for the newest cutoff that leaves a week of labeled days to hold out.
Used by the model's drift sensor and weekly schedule, which differ only in why they ask."""

from datetime import date

from dagster import DagsterInstance, DefaultScheduleStatus, RunRequest, SkipReason, schedule

from assets.keys import ModelKeys, raw_key
from assets.partitions import latest_cutoff
from core.model_spec import ModelSpec


def last_labeled_day(instance: DagsterInstance) -> date | None:
    """The last day whose outcomes (the labels' source) have landed. From the instance, not the
    warehouse: sensors and schedules must not wait on DuckDB's lock."""
    days = instance.get_materialized_partitions(raw_key("outcomes"))
    return max(date.fromisoformat(day) for day in days) if days else None


def retrain_request(instance: DagsterInstance, run_key: str, tags: dict[str, str]):
    last = last_labeled_day(instance)
    cutoff = latest_cutoff(last) if last else None
    if cutoff is None:
        return SkipReason(f"no cutoff with a week of labeled days yet (last labeled day: {last})")
    return RunRequest(run_key=f"{run_key}:{cutoff}", partition_key=cutoff,
                      tags={**tags, "retrain/cutoff": cutoff, "retrain/last_labeled_day": str(last)})


def build_retrain_schedule(spec: ModelSpec):
    @schedule(
        name=f"weekly_retrain_{spec.name}",
        cron_schedule=spec.retrain_cron,
        job_name=ModelKeys(spec.name).retrain_job,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Fallback: retrain {spec.name} on the spec's schedule ({spec.retrain_cron},"
                    " UTC) even without drift.",
    )
    def weekly_retrain(context):
        scheduled = context.scheduled_execution_time.strftime("%Y-%m-%d")
        return retrain_request(context.instance, f"weekly-{spec.name}-{scheduled}",
                               {"retrain/reason": "weekly schedule"})

    return weekly_retrain
