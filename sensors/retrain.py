"""What a retrain is: the `retrain` job (training set -> model -> checks -> evaluation ->
promotion) for the newest cutoff that leaves a week of labeled days to hold out. Used by the
drift sensor and the weekly schedule, which differ only in why they ask."""

from datetime import date

from dagster import DagsterInstance, DefaultScheduleStatus, RunRequest, SkipReason, schedule

from assets.keys import raw_key
from assets.partitions import latest_cutoff

RETRAIN_JOB = "retrain"


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


@schedule(
    cron_schedule="0 3 * * 1",
    job_name=RETRAIN_JOB,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Fallback: retrain weekly (Mondays 03:00 UTC) even without drift.",
)
def weekly_retrain_schedule(context):
    scheduled = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return retrain_request(context.instance, f"weekly-{scheduled}",
                           {"retrain/reason": "weekly schedule"})
