"""A month under the real daemon with two faults injected, and the service levels it leaves:
`make replay-faults [DAYS=30]`.

A fresh deployment in .bench/replay_faults/ (Jan 1 .. Feb 12 built, a champion trained at
Feb 3 and promoted), then `dagster dev` (webserver and daemon, as `make ui` runs them) and the
days after it landed one at a time, each once the previous one has settled, as days land on a
deployment that keeps up. Two faults on the way:

- a broken file: one landing's schedule arrives with a misspelt header (the contract refuses it,
  the day's serving run fails); the supplier's corrected file comes with the next landing;
- a killed run: one landing's serving run has its worker SIGKILLed in the middle; run
  monitoring fails the run and the daemon runs it again (run_retries, platform/dagster.yaml).

Then the probes and the service levels asset are materialized as their schedules would, and
the table it shows in the UI is printed, with every alert and resolve the daemon's alert sensor
delivered (data/alerts.jsonl). Nothing is simulated but the calendar: a day passes in a minute or two.
"""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import DagsterRunStatus, RunsFilter

from assets.ingest.landing_batch import WAITS_TAG
from assets.monitor.indicators import REPRODUCIBILITY, SERVICE_LEVELS, SERVING_ARTIFACTS
from core.ingest.contract import landing_path
from core.ingest.upstream import delivery_timeline, package_day_text, write_atomically
from internals.run_launcher import WORKER_PID_TAG
from resources.settings import REPO_ROOT
from tools import daemon_loop, latency
from tools.webhook import WebhookReceiver

WORK = REPO_ROOT / ".bench" / "replay_faults"
QUIET_SECONDS = 35.0


def deliver(landing: Path, day: date, lead_days: int, broken: bool = False) -> Path | None:
    """The end of ``day`` lands: its outcomes and weather, the schedule of the day ahead. With
    ``broken``, that schedule's header is misspelt. Returns the schedule's path."""
    schedule, ahead = None, day + timedelta(days=lead_days)
    for dataset, of_day in delivery_timeline(day, day, lead_days):
        text = package_day_text(dataset, of_day)
        path = landing_path(landing, dataset, of_day)
        if dataset == "schedule" and of_day == ahead:  # not ``day``'s own, published before
            schedule = path
            if broken:
                text = text.replace("year,", "yeer,", 1)
        write_atomically(path, text)
    return schedule


def kill_serving_run(instance, landed: float, timeout: float = 300) -> str:
    """SIGKILL the worker of the serving run started after ``landed``, a few seconds into it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = [run for run in instance.get_runs(RunsFilter(
            tags={WAITS_TAG: "true"}, statuses=[DagsterRunStatus.STARTED],
            created_after=datetime.fromtimestamp(landed, tz=timezone.utc)))
            if WORKER_PID_TAG in run.tags]
        if runs:
            time.sleep(3)  # into its steps
            os.kill(int(runs[0].tags[WORKER_PID_TAG]), signal.SIGKILL)
            return runs[0].run_id
        time.sleep(0.2)
    raise TimeoutError("no serving run started after the landing")


def replay(platform, days: int, broken_at: int, killed_at: int, webhook_url: str
           ) -> list[dict]:
    settings, instance = platform.settings, platform.instance
    env = {**platform.environment(os.environ), "ALERT_WEBHOOK_URL": webhook_url}
    first = latency.LAST_BUILT + timedelta(days=1)
    process = daemon_loop.start_dagster_dev(env, WORK / "dagster_dev.log")
    lines, broken_schedule = [], None
    try:
        daemon_loop.wait_until_idle(instance, QUIET_SECONDS, timeout=900)
        for number in range(days):
            day, landed = first + timedelta(days=number), time.time()
            note = ""
            if broken_schedule is not None:  # the supplier's corrected file, with this landing
                note = f"corrected {broken_schedule.name} re-sent; "
                broken_schedule = None
            schedule = deliver(settings.landing_dir, day, settings.prediction_lead_days,
                               broken=number == broken_at)
            if number == broken_at:
                broken_schedule, note = schedule, note + f"{schedule.name} broken; "
            if number == killed_at:
                note += f"serving run {kill_serving_run(instance, landed)[:8]} killed; "
            daemon_loop.wait_until_idle(instance, QUIET_SECONDS, timeout=1800)
            runs = instance.get_runs(RunsFilter(
                created_after=datetime.fromtimestamp(landed, tz=timezone.utc)))
            failed = [run.run_id[:8] for run in runs if run.status == DagsterRunStatus.FAILURE]
            line = {"landed": day.isoformat(), "runs": len(runs), "failed": failed,
                    "settled_s": round(time.time() - landed), "note": note.rstrip("; ")}
            lines.append(line)
            print(f"[{number + 1}/{days}] {day} landed: {len(runs)} runs"
                  f"{', failed ' + ' '.join(failed) if failed else ''}, settled in"
                  f" {line['settled_s']} s{'; ' + line['note'] if note else ''}", flush=True)
    finally:
        daemon_loop.stop_session(process)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    broken_at, killed_at = args.days // 3, 2 * args.days // 3

    shutil.rmtree(WORK, ignore_errors=True)
    started = time.time()
    print(f"building the deployment in {WORK} (Jan 1 .. {latency.LAST_BUILT}, a champion)",
          flush=True)
    platform = latency.deployment_with_a_champion(WORK)
    with WebhookReceiver() as hook:
        lines = replay(platform, args.days, broken_at, killed_at, hook.url)

    # the probes (M7 hourly, M8 daily) and the indicators, as their schedules would run them
    result = platform.execute([SERVING_ARTIFACTS, REPRODUCIBILITY, SERVICE_LEVELS])
    if not result.success:
        raise RuntimeError("the service levels asset failed")
    levels = platform.instance.get_latest_materialization_event(SERVICE_LEVELS)
    metadata = levels.asset_materialization.metadata
    alerts_file = platform.settings.data_dir / "alerts.jsonl"
    alerts = [json.loads(line) for line in alerts_file.read_text().splitlines()] \
        if alerts_file.exists() else []
    print(f"\n{args.days} days replayed in {(time.time() - started) / 60:.0f} min;"
          f" the service levels asset ({SERVICE_LEVELS.to_user_string()}):\n")
    print(metadata["objectives"].value)
    for name in ("landing_to_served_mean_seconds", "landing_to_served_p95_seconds",
                 "days_served_from_landings"):
        if name in metadata:
            print(f"{name}: {metadata[name].value}")
    print(f"\n{len(alerts)} alert notice(s) from the daemon's alert sensor ({alerts_file}):")
    for alert in alerts:
        if "kind" in alert:  # the service levels' (sensors/service_levels.py)
            print(f"  {alert['at']} {alert['kind']} {alert['key']} ({alert['severity']})")
        else:  # a failed run's (sensors/alerts.py)
            print(f"  {alert['at']} run_failed {alert['job']} {alert['partition']}:"
                  f" {('; '.join(alert['reasons']) or alert['error'])[:100]}")
    print(f"{len(hook.received)} of them posted to the webhook {hook.url}")
    (REPO_ROOT / ".bench").mkdir(exist_ok=True)
    (REPO_ROOT / ".bench" / "replay_faults.json").write_text(json.dumps(
        {"days": lines, "alerts": alerts,
         "service_levels": {k: v.value for k, v in metadata.items()
                            if isinstance(v.value, (int, float, str))}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
