"""The loop under the real webserver and daemon, as a user watches it after `make run`:
`make daemon-loop START=2013-04-01 END=2013-04-06` (after `make run END=2013-03-31
CUTOFF=2013-03-17`), and `make bench`'s daemon latency (tools/latency.py).

It starts `dagster dev` as `make ui` does (on a free port), lands the days one at a time with
the project's own land command (`platform/cli.py land`), and waits for each day's chain to
settle. Read from the instance and the landing zone, not from this script's clock: per landed
day, the time from its files landing (their modification time) to its raw/outcomes partition,
the next day's features and its predictions; then every run launched, by job, each retrain
with its reason, and each drift report's retrain decision, fired or not, and why. Nothing here
is simulated.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from assets.ingest.landing_batch import LANDING_BATCH_TAG, WAITS_TAG
from core.ingest.upstream import days_between
from instance.local_servers import default_signals, free_port
from internals.run_launcher import WORKER_KIND_TAG
from resources.landing import LandingZone
from resources.settings import REPO_ROOT, Settings

MODEL = "not_on_time"
BUSY = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED]
# What a landed day D leads to: D's raw outcomes, then D + 1's features and predictions.
MILESTONES = {"raw": (AssetKey(["raw", "outcomes"]), 0),
              "features": (AssetKey(["features", "flight_features"]), 1),
              "predictions": (AssetKey(["ml", MODEL, "predictions"]), 1)}


def start_session(command: list[str], env: dict, **popen) -> subprocess.Popen:
    """A Dagster process (and its children) in a session of its own, stoppable with SIGTERM."""
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True,
                            preexec_fn=default_signals, **popen)


def start_dagster_dev(env: dict, log_path: Path) -> subprocess.Popen:
    """`dagster dev` as `make ui` runs it (webserver and daemon), on a free loopback port."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return start_session(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)], env,
        stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))


def start_webserver(env: dict, timeout: float) -> tuple[subprocess.Popen, str]:
    """The Dagster webserver alone (no daemon) on a free loopback port, once it answers: its
    process (stop it with stop_session) and its URL."""
    port = free_port()
    process = start_session(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)], env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    stop_session(process)
                raise RuntimeError("the webserver did not come up") from None
            time.sleep(1)


def stop_session(process: subprocess.Popen) -> None:
    """Stop a process started by start_session, and its children: SIGTERM, then SIGKILL for
    whatever is still there after a minute."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def recorded_at(instance, key: AssetKey, day: date) -> float | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1).records
    return records[0].timestamp if records else None


def wait_until_idle(instance, quiet_seconds: float, timeout: float) -> None:
    """Until no run is queued or running for ``quiet_seconds`` (the automation ticks every 30 s)."""
    deadline, quiet_since = time.time() + timeout, time.time()
    while time.time() < deadline:
        if instance.get_runs_count(RunsFilter(statuses=BUSY)):
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_seconds:
            return
        time.sleep(1)
    raise TimeoutError(f"runs still going after {timeout:.0f}s")


# Dagster's sensor daemon wakes every 5 s (its fixed loop); a file waits 0-5 s for a tick.
SENSOR_LOOP_SECONDS = 5.0


def wait_for_sensor_phase(instance, sensor_name: str, fraction: float) -> None:
    """Sleep until ``fraction`` of the sensor loop's period after one of its ticks.

    Landings timed by this script's own waits would all fall at about the same point of the
    daemon's loop (each day's chain takes about as long), so every day would wait about as
    long for its tick: 0.5 s or 4.5 s depending on the run. Days landed at spread fractions
    wait 0-5 s as files landing at any moment do."""
    state = next((s for s in instance.all_instigator_state() if s.name == sensor_name), None)
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1) if state else []
    if not ticks:
        return
    now, period = time.time(), SENSOR_LOOP_SECONDS
    target = ticks[0].timestamp + fraction * period
    target += max(0, -(-(now - target) // period)) * period  # the next such moment from now
    time.sleep(target - now)


def spread_phase(number: int, count: int) -> float:
    """Where in the sensor loop the ``number``-th (from 0) of ``count`` landings lands: the
    middles of ``count`` equal parts of the loop."""
    return (number + 0.5) / count


def land_and_measure(instance, env: dict, settings: Settings, day: date,
                     quiet_seconds: float, phase: float | None = None) -> dict:
    """Land the end of ``day`` (its outcomes and weather, the next day's schedule) with the
    project's land command, at ``phase`` (a fraction of the sensor loop after a new-data tick)
    if given; wait until the chain settles. Seconds from the landing to each milestone (None:
    not reached)."""
    if phase is not None:
        wait_for_sensor_phase(instance, "new_data", phase)
    subprocess.run([sys.executable, "platform/cli.py", "land", "--start", str(day),
                    "--end", str(day)], cwd=REPO_ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    landing = LandingZone(path=str(settings.landing_dir), quarantine_path="unused")
    landed = landing.landed_at(day + timedelta(days=1), settings.prediction_lead_days)
    wait_until_idle(instance, quiet_seconds, timeout=900)
    figures = {**landing_runs_started(instance, landed)}
    for name, (key, offset) in MILESTONES.items():
        at = recorded_at(instance, key, day + timedelta(days=offset))
        figures[name] = round(at - landed, 1) if at and at > landed else None
    return figures


def landing_runs_started(instance, landed: float) -> dict:
    """Seconds from the landing until the new-data sensor's runs were queued (the sensor's
    tick) and until the serving run's process was up and its run started (the queue, the
    process start and its import of the definitions), and whether that process was warm."""
    records = [record for record in instance.get_run_records(RunsFilter(
        created_after=datetime.fromtimestamp(landed, tz=timezone.utc)))
        if LANDING_BATCH_TAG in record.dagster_run.tags]
    serving = [record for record in records if record.dagster_run.tags.get(WAITS_TAG)]
    if not records or not serving or serving[0].start_time is None:
        return {"runs_queued": None, "serving_run_started": None, "serving_worker": None}
    return {"runs_queued": round(min(r.create_timestamp.timestamp() for r in records) - landed, 1),
            "serving_run_started": round(serving[0].start_time - landed, 1),
            # internals/run_launcher.py: imported before the launch, or started for it
            "serving_worker": serving[0].dagster_run.tags.get(WORKER_KIND_TAG)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2013, 4, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2013, 4, 6))
    parser.add_argument("--quiet-seconds", type=float, default=40.0)
    args = parser.parse_args(argv)

    instance = DagsterInstance.get()
    started_at = time.time()
    ui = start_dagster_dev(dict(os.environ), REPO_ROOT / ".bench" / "daemon_loop.log")
    try:
        print("dagster dev started; letting it settle", flush=True)
        wait_until_idle(instance, args.quiet_seconds, timeout=900)
        days = days_between(args.start, args.end)
        for number, day in enumerate(days):
            figures = land_and_measure(instance, dict(os.environ), Settings.from_env(), day,
                                       args.quiet_seconds, phase=spread_phase(number, len(days)))
            print(f"{day} landed: " + ", ".join(
                f"{name} {'-' if s is None else s if isinstance(s, str) else f'{s:.0f}s'}"
                for name, s in figures.items()), flush=True)
    finally:
        stop_session(ui)

    runs = instance.get_runs(RunsFilter(
        created_after=datetime.fromtimestamp(started_at, tz=timezone.utc)))
    print(f"\n{len(runs)} runs since dagster dev started:"
          f" {dict(Counter(run.job_name for run in runs))}")
    retrains = [run for run in runs if run.job_name.startswith("retrain_")]
    print(f"{len(retrains)} retrain run(s)")
    for run in retrains:
        print(f"  {run.job_name} cutoff {run.tags.get('retrain/cutoff')}:"
              f" {run.tags.get('retrain/reason')}")
    for record in instance.fetch_materializations(
            AssetKey(["monitoring", MODEL, "drift_report"]), limit=50).records:
        if record.timestamp < started_at:
            break
        metadata = record.asset_materialization.metadata
        print(f"  drift report {metadata['day'].value}: retrain {metadata['retrain'].value}:"
              f" {metadata['reason'].value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
