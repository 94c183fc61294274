"""`make daemon-loop START=2013-04-01 END=2013-04-06`: the loop under the real webserver and
daemon, as a user watches it after `make run END=2013-03-31 CUTOFF=2013-03-17`.

It starts `dagster dev` as `make ui` does (on a free port, the same DAGSTER_HOME), lands the
days one at a time with the project's own land command (`platform/cli.py land`), and waits for
each day's chain to settle. Read from the instance, not from this script's clock: per landed
day, the time from the files landing to its raw/outcomes partition, the next day's features
and its predictions; then every run launched, by job, each retrain with its reason, and each
drift report's retrain decision, fired or not, and why. Nothing here is simulated.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter  # noqa: E402

from core.simulator import days_between  # noqa: E402

MODEL = "not_on_time"
BUSY = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recorded_at(instance, key: AssetKey, day: date) -> float | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1).records
    return records[0].timestamp if records else None


def wait_until_idle(instance, quiet_seconds: float, timeout: float) -> None:
    """Until no run is queued or running for ``quiet_seconds`` (sensors tick every 15-30 s)."""
    deadline, quiet_since = time.time() + timeout, time.time()
    while time.time() < deadline:
        if instance.get_runs_count(RunsFilter(statuses=BUSY)):
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_seconds:
            return
        time.sleep(2)
    raise TimeoutError(f"runs still going after {timeout:.0f}s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2013, 4, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2013, 4, 6))
    parser.add_argument("--quiet-seconds", type=float, default=75.0)
    args = parser.parse_args(argv)

    instance = DagsterInstance.get()
    started_at = time.time()
    port = _free_port()
    ui = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)], cwd=REPO_ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=open(REPO_ROOT / ".bench" / "daemon_loop.log", "w"))
    try:
        print(f"dagster dev on 127.0.0.1:{port}; letting it start and settle", flush=True)
        wait_until_idle(instance, args.quiet_seconds, timeout=900)
        keys = {"raw/outcomes": AssetKey(["raw", "outcomes"]),
                "features (D+1)": AssetKey(["features", "flight_features"]),
                "predictions (D+1)": AssetKey(["ml", MODEL, "predictions"])}
        for day in days_between(args.start, args.end):
            subprocess.run([sys.executable, "platform/cli.py", "land", "--start", str(day),
                            "--end", str(day)], cwd=REPO_ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            landed = time.time()
            wait_until_idle(instance, args.quiet_seconds, timeout=900)
            figures = []
            for label, key in keys.items():
                at = recorded_at(instance, key, day if label == "raw/outcomes"
                                 else day + timedelta(days=1))
                figures.append(f"{label} {at - landed:.0f}s" if at and at > landed
                               else f"{label} -")
            print(f"{day} landed: " + ", ".join(figures), flush=True)
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)

    runs = [run for run in instance.get_runs(RunsFilter(created_after=_utc(started_at)))]
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


def _utc(timestamp: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


if __name__ == "__main__":
    sys.exit(main())
