"""Alerts on failed runs: a log line and a JSON line appended to the alerts file.

`notify` is the one function to change to send alerts to Slack, e-mail or a pager.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from assets.partitions import PARTITION_TAG, RANGE_START_TAG


def append_alert(alert: dict, alerts_file: Path) -> None:
    """One JSON line in the alerts file: what every alert of the platform leaves behind."""
    alerts_file.parent.mkdir(parents=True, exist_ok=True)
    with alerts_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(alert, sort_keys=True) + "\n")


def notify(alert: dict, alerts_file: Path, log) -> None:
    log.error(f"ALERT run {alert['run_id']} of {alert['job']} failed: {alert['error']}")
    append_alert(alert, alerts_file)


def _reason(step_failure) -> str:
    """A failed step's own message, without the exception's class name."""
    error = step_failure.step_failure_data.error
    message = (error.message if error else step_failure.message or "").strip()
    return message.split(": ", 1)[1] if message.startswith("dagster.") else message


def build_alert_sensor(alerts_file: Path):
    @run_failure_sensor(
        name="alert_on_run_failure",
        default_status=DefaultSensorStatus.RUNNING,
        monitor_all_code_locations=False,
        description=f"Appends an alert to {alerts_file} for every failed run.",
    )
    def alert_on_run_failure(context: RunFailureSensorContext):
        run = context.dagster_run
        notify(
            {
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "run_id": run.run_id,
                "job": run.job_name,
                "partition": run.tags.get(PARTITION_TAG) or run.tags.get(RANGE_START_TAG),
                "error": context.failure_event.message,
                "steps": [event.step_key for event in context.get_step_failure_events()],
                # what each step said: the rule broken, the input or file named
                "reasons": [_reason(event) for event in context.get_step_failure_events()],
            },
            alerts_file,
            context.log,
        )

    return alert_on_run_failure
