"""Faults injected on purpose, shared by the tests and `make chaos` (tools/chaos.py).

Run as a script, this is the victim of the crash test: a real Dagster run of raw/schedule for
one day that stops in the middle of its partition write (rows deleted and re-inserted, not yet
committed), says so on stdout, and waits to be killed with SIGKILL:

    python -m tools.faults <dagster_home> <data_dir> <day>
"""

import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from internals.run_queue import operator_session
from resources.settings import REPO_ROOT
from tools.sandbox import CODE_PYTHONPATH

MID_WRITE = "MID-WRITE"


def replace_first_row(good: bytes, old: bytes, new: bytes) -> bytes:
    header, first, rest = good.split(b"\n", 2)
    assert old in first
    return b"\n".join([header, first.replace(old, new, 1), rest])


def bad_landing_files(good: bytes) -> dict[str, tuple[bytes, str, int | None, str | None]]:
    """Every kind of bad delivery made from one good day of the schedule feed (2013-03-01):
    kind -> (content, what the error says, line, column)."""
    header, first, rest = good.split(b"\n", 2)
    return {
        "missing column": (good.replace(b"dest,", b"", 1), "missing columns ['dest']", 1, None),
        "extra column": (good.replace(b"time_hour\n", b"time_hour,gate\n", 1), "unexpected columns ['gate']", 1, None),
        "reordered columns": (good.replace(b"year,month", b"month,year", 1), "out of order", 1, None),
        "wrong type": (replace_first_row(good, b",B6,11,", b",B6,eleven,"), "'eleven' is not a valid INTEGER", 2, "flight"),
        "not a number": (replace_first_row(good, b",1069,", b",far,"), "'far' is not a valid DOUBLE", 2, "distance"),
        "empty file": (b"", "empty", None, None),
        "header only": (header + b"\n", "0 rows", None, None),
        "duplicate rows": (b"\n".join([header, first, first, rest]), "repeat the key", 3, "carrier, flight, origin"),
        "cut mid-row": (good[: len(good) // 2], "fields where the header has 14", None, None),
        "binary garbage": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8", 1, None),
        "NUL bytes": (good.replace(b"\n2013,3,1,B6,707,", b"\n2013,3,1,\x00", 1), "NUL byte", 3, None),
        "date outside the day": (replace_first_row(good, b"2013,3,1,", b"2013,3,2,"), "not the file's day", 2, "year/month/day"),
        "month out of range": (replace_first_row(good, b"2013,3,1,", b"2013,13,1,"), "between 1 and 12", 2, "month"),
        "negative distance": (replace_first_row(good, b",1069,", b",-1069,"), "at least 0", 2, "distance"),
        "non-UTF-8 bytes": (replace_first_row(good, b"N706JB", b"N706\xe9B"), "not UTF-8", 2, None),
        "unparseable time": (replace_first_row(good, b",2159,", b",25:61,"), "not a valid INTEGER", 2, "sched_dep_time"),
        "impossible clock time": (replace_first_row(good, b",2159,", b",2175,"), "a clock time HHMM", 2, "sched_dep_time"),
        "hour and minute disagree": (replace_first_row(good, b",21,59,", b",20,59,"), "hour * 100 + minute", 2, "sched_dep_time"),
        "unparseable timestamp": (replace_first_row(good, b"2013-03-02T02:00:00Z", b"tomorrow"), "not a valid TIMESTAMPTZ", 2, "time_hour"),
        "rounded integer": (replace_first_row(good, b"2013,3,1,", b"2013,3.4,1,"), "not a valid INTEGER", 2, "month"),
        "missing required value": (replace_first_row(good, b",JFK,", b",NA,"), "missing value in a required column", 2, "origin"),
        "far larger than normal": (good * 60, "more than the 3,000,000", None, None),
        # the dialect (core/ingest/validation.py): unquoted UTF-8 CSV, lines ending in LF or CRLF
        "quote character": (replace_first_row(good, b",N706JB,", b',"N706JB",'), "a double quote", 2, "tailnum"),
        "lone quote": (replace_first_row(good, b",N706JB,", b',",'), "a double quote", 2, "tailnum"),
        "delimiter inside a value": (replace_first_row(good, b",N706JB,", b",N706,JB,"), "15 fields where the header has 14", 2, None),
        "byte-order mark": (b"\xef\xbb\xbf" + good, "byte-order mark", 1, None),
        "carriage return inside a line": (replace_first_row(good, b",N706JB,", b",N706\rJB,"), "carriage return inside a line", 2, None),
    }


BAD_KINDS = list(bad_landing_files(
    b"h\n2013,3,1,B6,11,N706JB,JFK,FLL,2159,56,1069,21,59,2013-03-02T02:00:00Z\n"
))


def bad_outcome_files(good: bytes) -> dict[str, tuple[bytes, str, int | None, str | None]]:
    """The outcomes feed's own rules, from one good day of outcomes (2013-03-01)."""
    return {
        "arrival without a departure": (replace_first_row(good, b",JFK,4,125,", b",JFK,NA,125,"),
                                        "an arrival delay needs a departure time", 2, "arr_delay"),
        "impossible arrival time": (replace_first_row(good, b",318,", b",3181,"),
                                    "a clock time HHMM", 2, "arr_time"),
        "negative air time": (replace_first_row(good, b",142,166", b",142,-166"), "at least 0", 2, "air_time"),
    }


def stop_every_sensor(instance) -> None:
    """As an operator would from the UI."""
    with operator_session(instance) as session:
        session.stop_sensors()


def queue_runs(instance, job_name: str, partitions: list[str]) -> list[str]:
    """Submit one run per partition to the run queue and stop every sensor (the test, not new
    files, decides what runs), as an operator would from the UI."""
    with operator_session(instance) as session:
        session.stop_sensors()
        return session.queue(job_name, partitions)


def run_days_through_queue(root: Path, days: list[str], env_overrides: dict | None = None,
                           postgres=None, stock: bool = False) -> dict:
    """Land ``days`` in a new deployment in ``root``, then run_together their daily_data runs
    under a daemon started for them; ``stock``: on Dagster's event log and run launcher and
    dagster-dbt's dbt runs. The environment of this process is pointed at ``root`` (the code
    server inherits it)."""
    import os
    import subprocess
    from datetime import date

    from dagster import AssetKey

    import runner
    from core.ingest.upstream import land_days
    from definitions import build_definitions
    from tools import daemon_loop
    from tools.sandbox import STOCK_PARTS, make_instance, make_settings

    dbt_runs = "subprocess" if stock else "in_process"
    settings = make_settings(root, dbt_runs=dbt_runs)
    env = {"PLATFORM_DATA_DIR": str(settings.data_dir),
           "WAREHOUSE_PATH": str(settings.warehouse_path),
           "DAGSTER_HOME": str(root / "dagster_home"), "PYTHONPATH": CODE_PYTHONPATH,
           "DBT_RUNS": dbt_runs, **(env_overrides or {})}
    os.environ.update(env)
    # the repo's dagster.yaml: run queue and pool limits (on PostgreSQL: its password is now in
    # this process's environment, which the daemon inherits)
    instance = make_instance(root, STOCK_PARTS if stock else None, postgres=postgres)
    defs = build_definitions(settings)
    land_days(settings.landing_dir, date.fromisoformat(days[0]), date.fromisoformat(days[-1]))
    # the reference data first, as `make run` does: the package's tables and their staging
    reference = [AssetKey(["raw", t]) for t in ("planes", "airports", "airlines")]
    reference.append(AssetKey(["staging", "stg_planes"]))
    assert runner.execute(defs, instance, reference, log=lambda _: None).success

    def start_daemon():
        return daemon_loop.start_session(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            {**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return run_together(instance, days, settings.warehouse_path, start_daemon)


def run_together(instance, days: list[str], warehouse_path: Path, start_daemon=None) -> dict:
    """Queue one daily_data run per day and have them all in flight at once: the warehouse is
    held, as an analyst's dbt run would hold it, until every run has started, so that their
    steps meet at the warehouse whatever the machine's speed instead of the first run finishing
    before the last one's process is up. ``start_daemon`` starts the daemon that dequeues them
    (stopped at the end); without it, one is running already: its sensors are stopped and the
    runs in flight finish first.

    Returns the run records and every event message of those runs."""
    from dagster import DagsterRunStatus, RunsFilter

    from resources.warehouse import DuckDBWarehouse
    from tools import daemon_loop

    def runs():
        return [record.dagster_run for record in instance.get_run_records(RunsFilter(run_ids=run_ids))]

    waiting = (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING)
    with ExitStack() as held:
        with operator_session(instance) as session:  # the workspace loaded once
            session.stop_sensors()  # the test, not new files, decides what runs
            if start_daemon is None:  # a running daemon: only these runs, none still in flight
                daemon_loop.wait_until_idle(instance, quiet_seconds=2, timeout=600)
            held.enter_context(DuckDBWarehouse(path=str(warehouse_path)).exclusive_access())
            run_ids = session.queue("daily_data", days)
        queued_statuses = {run.status.value for run in runs()}
        daemon = start_daemon() if start_daemon else None
        started = time.monotonic()
        try:
            while time.monotonic() - started < 300:
                if all(run.status not in waiting for run in runs()):
                    break
                time.sleep(0.5)
            all_started = time.monotonic() - started
            held.close()  # the warehouse is free: the runs' steps take turns on it
            while time.monotonic() - started < 600:
                if all(run.is_finished for run in runs()):
                    break
                time.sleep(1)
        finally:
            if daemon is not None:
                daemon_loop.stop_session(daemon)
    records = instance.get_run_records(RunsFilter(run_ids=run_ids))
    return {
        "instance": instance,
        "queued_statuses": queued_statuses,
        "records": records,
        "messages": [e.message or "" for run_id in run_ids for e in instance.all_logs(run_id)],
        "seconds": time.monotonic() - started,
        "seconds_until_all_started": all_started,
        "warehouse_path": warehouse_path,
    }


def is_lock_error(message: str) -> bool:
    return "Could not set lock" in message or "Conflicting lock" in message


def kill_mid_write_and_rerun(platform, day: str) -> dict:
    """Start a run of raw/schedule for ``day`` in a subprocess, SIGKILL it inside its write
    transaction, then rerun the day. Returns the day's rows before, after the kill and after
    the rerun, the victim's exit code, and the seconds the rerun took (recovery included)."""
    import os
    import signal
    import subprocess

    from dagster import AssetKey

    def day_rows():
        # source_file names the deployment's landing zone; compare the data itself.
        rows = platform.query(
            "select * exclude (source_file) from raw.schedule where partition_date = ?"
            " order by all", [day])
        return rows

    before = day_rows()
    victim = subprocess.Popen(
        [sys.executable, "-m", "tools.faults", str(platform.root / "dagster_home"),
         str(platform.settings.data_dir), day],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": CODE_PYTHONPATH},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    reached_write = False
    try:
        for line in victim.stdout:  # wait until the rows are deleted and re-inserted, uncommitted
            if MID_WRITE in line:
                reached_write = True
                break
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    after_kill = day_rows()
    started = time.perf_counter()
    result = platform.execute([AssetKey(["raw", "schedule"])], partition_key=day)
    return {
        "reached_write": reached_write, "returncode": victim.returncode, "before": before,
        "after_kill": after_kill, "rerun_success": result.success, "rerun_run_id": result.run_id,
        "after_rerun": day_rows(), "recover_seconds": time.perf_counter() - started,
    }


class _PausingConnection:
    """A DuckDB connection that stops for good right after the raw insert has executed."""

    def __init__(self, connection):
        self._connection = connection

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def execute(self, sql, *args):
        result = self._connection.execute(sql, *args)
        if sql.lstrip().startswith("insert into raw.schedule"):
            print(MID_WRITE, flush=True)
            time.sleep(3600)
        return result


def run_until_killed(dagster_home: str, data_dir: str, day: str) -> None:
    from dagster import AssetKey, DagsterInstance

    import runner
    from definitions import build_definitions
    from resources.warehouse import DuckDBWarehouse
    from tools.sandbox import make_settings

    original = DuckDBWarehouse.transaction

    @contextmanager
    def pausing_transaction(self):
        with original(self) as connection:
            yield _PausingConnection(connection)

    DuckDBWarehouse.transaction = pausing_transaction
    settings = make_settings(Path(data_dir).parent)
    defs = build_definitions(settings)
    instance = DagsterInstance.from_config(dagster_home)
    runner.execute(defs, instance, [AssetKey(["raw", "schedule"])], partition_key=day)


if __name__ == "__main__":
    run_until_killed(*sys.argv[1:4])
