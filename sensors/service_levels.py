"""sensors/service_level_alerts: page when the pipeline burns an objective's error budget fast
(platform/objectives.yaml, core/monitor/service_levels.py), once per incident, and say when the
burn stops.

The open incidents are the sensor's cursor, so a burn that goes on across ticks (or a daemon
restart) says nothing more. Each notice goes to the tick's log (the UI), as a JSON line to the
alerts file, and to ALERT_WEBHOOK_URL when it is set.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from assets.monitor.indicators import Sources, indicator_events
from core.monitor.service_levels import Notice, Objective, firing, step_incidents
from sensors.alerts import append_alert

WEBHOOK_TIMEOUT_SECONDS = 5


def deliver(notice: Notice, alerts_file: Path, webhook_url: str | None, log) -> None:
    (log.error if notice.kind == "alert" else log.info)(notice.text)
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "kind": f"slo_{notice.kind}", "key": notice.key, "severity": notice.severity,
              "text": notice.text, **notice.details}
    append_alert(record, alerts_file)
    if webhook_url:
        request = urllib.request.Request(webhook_url, data=json.dumps(record).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS):
                pass
        except OSError as error:  # the alert is in the log and the file: say the hook failed
            log.warning(f"the alert webhook {webhook_url} failed: {error}")


def evaluate(instance, objectives: list[Objective], cursor: str | None, now: datetime,
             sources: Sources) -> tuple[str, list[Notice], str]:
    """The new cursor, the notices to deliver, and a one-line state for the tick."""
    open_before = json.loads(cursor) if cursor else {}
    events = indicator_events(instance, objectives, now, sources)
    fired = [f for o in objectives for f in firing(o, events[o.id], now)]
    open_after, notices = step_incidents(open_before, fired, now)
    state = (f"burning: {', '.join(sorted(open_after))}" if open_after
             else f"no objective burning ({sum(len(e) for e in events.values())} events)")
    return json.dumps(open_after, sort_keys=True), notices, state


def build_service_level_sensor(objectives: list[Objective], sources: Sources,
                               alerts_file: Path, webhook_url: str | None,
                               clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
    @sensor(
        name="service_level_alerts",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Alerts when an objective of platform/objectives.yaml burns its error"
                    " budget over a long and a short window together; once per incident, and"
                    " a resolve when the burn stops.",
    )
    def service_level_alerts(context: SensorEvaluationContext):
        cursor, notices, state = evaluate(context.instance, objectives, context.cursor, clock(),
                                          sources)
        for notice in notices:
            deliver(notice, alerts_file, webhook_url, context.log)
        context.update_cursor(cursor)
        return SkipReason(state)

    return service_level_alerts
