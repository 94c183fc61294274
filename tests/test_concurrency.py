"""Four runs on different days, dequeued at the same moment by the real daemon, share the one
DuckDB file without a single lock error.

DuckDB lets one process write a file; a second one fails with "Could not set lock on file".
The runs go through the instance's run queue (QueuedRunCoordinator, max_concurrent_runs 4 in
platform/dagster.yaml), so all four run workers start together; the `duckdb` pool and the
warehouse's file lock make their steps take turns.
"""

import os
import signal
import subprocess
import time
from datetime import date

from dagster import AssetKey, DagsterRunStatus, RunsFilter

from resources.settings import REPO_ROOT
from tests.conftest import make_instance

DAYS = ["2013-03-01", "2013-03-02", "2013-03-03", "2013-03-04"]


def _queue_runs(instance, job_name: str, partitions: list[str]) -> list[str]:
    """Submit one run per partition to the run queue and stop every sensor, as an operator would
    from the UI. Dagster has no public Python API that queues a run of a code location without
    a webserver, so this reuses what `dagster job launch` does, in one process."""
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import WorkspaceOpts, get_workspace_from_cli_opts
    from dagster.version import __version__

    opts = WorkspaceOpts(workspace=(str(REPO_ROOT / "workspace.yaml"),))
    with get_workspace_from_cli_opts(instance, version=__version__, workspace_opts=opts) as workspace:
        (location,) = workspace.get_code_location_entries().values()
        code_location = location.code_location
        (repo,) = code_location.get_repositories().values()
        for sensor in repo.get_sensors():  # the test, not new files, decides what runs
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
        remote_job = repo.get_full_job(job_name)
        run_ids = []
        for partition in partitions:
            run = _create_run(
                instance=instance, code_location=code_location, remote_repo=repo,
                remote_job=remote_job, run_config={}, tags={"dagster/partition": partition},
                op_selection=None, run_id=None,
            )
            instance.submit_run(run.run_id, workspace)
            run_ids.append(run.run_id)
    return run_ids


def test_four_queued_runs_finish_with_no_lock_errors(tmp_path, monkeypatch, definitions_module, cli):
    data = tmp_path / "data"
    env = {"PLATFORM_DATA_DIR": str(data), "WAREHOUSE_PATH": str(data / "warehouse.duckdb"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYTHONPATH": str(REPO_ROOT)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    instance = make_instance(tmp_path)  # the repo's dagster.yaml: run queue and pool limits
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    defs = definitions_module.build_definitions(settings)
    from resources.landing import land_days

    land_days(settings.landing_dir, date(2013, 3, 1), date(2013, 3, 4))
    reference = [AssetKey(["raw", t]) for t in ("planes", "airports", "airlines")]
    assert cli.execute(defs, instance, reference, log=lambda _: None).success

    run_ids = _queue_runs(instance, "daily_data", DAYS)
    queued = instance.get_runs(RunsFilter(run_ids=run_ids))
    assert {run.status for run in queued} == {DagsterRunStatus.QUEUED}

    daemon = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            records = instance.get_run_records(RunsFilter(run_ids=run_ids))
            if all(r.dagster_run.is_finished for r in records):
                break
            time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    records = instance.get_run_records(RunsFilter(run_ids=run_ids))
    assert {r.dagster_run.status for r in records} == {DagsterRunStatus.SUCCESS}, [
        (r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records
    ]
    # The four were in flight together: each started before any of them ended.
    assert max(r.start_time for r in records) < min(r.end_time for r in records)
    messages = [e.message or "" for run_id in run_ids for e in instance.all_logs(run_id)]
    assert not [m for m in messages if "Could not set lock" in m or "Conflicting lock" in m]
    assert not [m for m in messages if "up for retry" in m.lower()]

    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        days = con.execute(
            "select flight_date, count(*) from features.flight_features group by 1 order by 1"
        ).fetchall()
    assert [str(day) for day, _ in days] == DAYS
