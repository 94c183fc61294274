"""The instance on a real PostgreSQL, under the real daemon: the loop runs (a landed day is
served, the retrain and serving sensors act), runs in flight together share the warehouse, a
killed run is failed by run monitoring and its day re-runs clean, and PostgreSQL going away
loses nothing.

One deployment for the module (Jan 1 .. Feb 12 landed and built, a weak champion trained at
Feb 3 serving Feb 13), its instance on a database of the session's server
(tests/conftest.py). The model specs are a copy with one model, the classifier, its quality
floor relaxed for six weeks and its gate's horizon at ten days, so that the retrain the daemon
launches is decided on the days it has. The tests run in file order: the loop first.
"""

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from dagster import DagsterRunStatus, RunsFilter

from assets import keys
from core.gate import registry
from core.ingest.upstream import deliver_days, land_days
from internals.run_launcher import WORKER_PID_TAG
from resources.settings import REPO_ROOT
from tests.conftest import CLASSIFIER
from tests.e2e.test_concurrency import assert_in_flight_together_without_lock_errors
from tools import daemon_loop, faults
from tools.sandbox import Platform

MODEL = keys.ModelKeys(CLASSIFIER)
CUTOFF, SERVED, LANDED = "2013-02-03", date(2013, 2, 13), date(2013, 2, 13)
WEAK = {"max_iter": 1, "max_leaf_nodes": 2}
NEXT_DAY_KEYS = [keys.raw_key("schedule"), keys.STAGING["stg_schedule"], keys.FEATURES]


def one_model_specs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    spec = yaml.safe_load((REPO_ROOT / "model_specs" / f"{CLASSIFIER}.yaml").read_text())
    spec["gate"].update(worst_acceptable=0.5, max_days=10)
    (folder / f"{CLASSIFIER}.yaml").write_text(yaml.safe_dump(spec))
    return folder


@pytest.fixture(scope="module")
def deployment(postgres, tmp_path_factory, definitions_module, runner):
    root = tmp_path_factory.mktemp("on-postgres")
    address = postgres.address().with_database("daemon_loop")
    platform = Platform(root, definitions_module, runner,
                        model_specs_dir=one_model_specs(root / "model_specs"), postgres=address)
    platform.land(date(2013, 1, 1), date(2013, 2, 12))
    assert all(platform.materialize(date(2013, 1, 1), date(2013, 2, 12)).values())
    assert platform.train(CUTOFF, models=[MODEL], **WEAK).success
    assert platform.promote([MODEL]).success
    land_days(platform.settings.landing_dir, SERVED, SERVED, datasets=("schedule",))
    assert platform.execute(NEXT_DAY_KEYS, partition_key=str(SERVED)).success
    assert platform.execute([MODEL.predictions], partition_key=str(SERVED)).success
    return platform


@pytest.fixture(scope="module")
def daemon(deployment, tmp_path_factory):
    """The real daemon over the deployment, one for the module (its environment is the code
    server's too); its log is ``daemon.log``. The password reaches it as on the cluster:
    DAGSTER_PG_PASSWORD."""
    env = {**deployment.environment({}), "DAGSTER_EVENT_BATCH_SIZE": "1000"}
    log = tmp_path_factory.mktemp("daemon") / "daemon.log"
    with pytest.MonkeyPatch.context() as patch, log.open("w") as output:
        for name, value in env.items():
            patch.setenv(name, value)  # faults.queue_runs loads the workspace from here
        process = daemon_loop.start_session(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            dict(os.environ), stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process, log
        finally:
            daemon_loop.stop_session(process)


# How long to wait for the daemon's runs. An upper bound, not a pace: alone, a landing was served
# within a minute; beside the Spark tests on the other xdist worker it took over 240 s.
PATIENCE = 900


def wait_for(condition, timeout: float, what: str, every: float = 2.0, log: Path | None = None):
    """``condition()`` once it is truthy; else a TimeoutError with the tail of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log else ""
    raise TimeoutError(f"after {timeout:.0f}s still waiting for {what}"
                       + (f"; the daemon's log ends:\n{tail}" if tail else ""))


def finished(runs):
    """The runs, once there are some and every one has ended; otherwise None."""
    return runs if runs and all(run.is_finished for run in runs) else None


def champion(platform) -> str:
    with platform.warehouse.connect(read_only=True) as con:
        return registry.current_champion(con, CLASSIFIER).version


def served_by(platform, day: date) -> set[str]:
    return {version for (version,) in platform.query(
        "select distinct model_version from ml.not_on_time_predictions where flight_date = ?",
        [day])}


def test_the_loop_runs_on_postgresql_under_the_daemon(deployment, daemon):
    """The retrain sensor sees the champion was not made with the spec's recipe and retrains;
    the gate promotes the better model; the serving sensor serves the day not flown yet with it.
    Then the day flies and lands: new_data ingests it and serves the next day."""
    _, log = daemon
    weak = champion(deployment)
    better = wait_for(lambda: champion(deployment) != weak and champion(deployment), PATIENCE,
                      "the retrain and the gate to make a new champion", log=log)
    wait_for(lambda: served_by(deployment, SERVED) == {better}, PATIENCE,
             "the serving sensor to serve the open day with the new champion", log=log)
    instance = deployment.instance
    retrains = instance.get_runs(RunsFilter(job_name=MODEL.retrain_job,
                                            statuses=[DagsterRunStatus.SUCCESS]))
    assert retrains and retrains[0].tags["retrain/reason"].startswith("recipe")
    # The rows are written before the run records its end: wait for the end, then judge it.
    served_again = wait_for(lambda: finished(instance.get_runs(
        RunsFilter(tags={"serving/champion": better}))), PATIENCE, "the serving run to finish",
        log=log)
    assert all(run.status == DagsterRunStatus.SUCCESS for run in served_again)

    deliver_days(deployment.settings.landing_dir, LANDED, LANDED)  # Feb 13 flies; Feb 14's schedule
    ahead = date(2013, 2, 14)
    wait_for(lambda: served_by(deployment, ahead), PATIENCE, "the next day served", log=log)
    assert served_by(deployment, ahead) == {better}
    assert served_by(deployment, SERVED) == {better}  # a flown day stays as served
    assert "postgres" in type(instance.run_storage).__module__


def schedule_rows(platform, day: str) -> list[tuple]:
    return platform.query("select * exclude (source_file) from raw.schedule"
                          " where partition_date = ? order by all", [day])


def test_queued_runs_in_flight_together_finish_with_no_lock_errors(deployment, daemon):
    """As on SQLite (tests/e2e/test_concurrency.py), where claiming the pool's slot is a
    transaction of this database."""
    days = ["2013-02-05", "2013-02-06"]
    outcome = faults.run_together(deployment.instance, days, deployment.settings.warehouse_path)
    assert_in_flight_together_without_lock_errors(outcome, days)


def test_a_killed_run_is_failed_by_run_monitoring_and_retried_clean(deployment, daemon):
    """Its worker SIGKILLed mid-run: run monitoring fails the run, and the daemon runs it again
    once (run_retries in platform/dagster.yaml), which rebuilds the day as it was."""
    _, log = daemon
    instance, day = deployment.instance, "2013-02-10"
    before = schedule_rows(deployment, day)
    (run_id,) = faults.queue_runs(instance, "daily_data", [day])
    worker = wait_for(lambda: instance.get_run_by_id(run_id).tags.get(WORKER_PID_TAG),
                      PATIENCE, "the run handed to a worker", every=0.2, log=log)
    wait_for(lambda: instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED,
             PATIENCE, "the run to start", every=0.2, log=log)
    os.kill(int(worker), 9)
    failed = wait_for(lambda: instance.get_run_by_id(run_id).is_finished and
                      instance.get_run_by_id(run_id), PATIENCE, "run monitoring to notice",
                      log=log)
    assert failed.status == DagsterRunStatus.FAILURE
    assert schedule_rows(deployment, day) == before  # the write was one transaction

    (retry,) = wait_for(lambda: finished(instance.get_runs(RunsFilter(
        tags={"dagster/parent_run_id": run_id}))), PATIENCE, "the daemon's retry to end",
        log=log)
    assert retry.status == DagsterRunStatus.SUCCESS and retry.tags["dagster/partition"] == day
    assert schedule_rows(deployment, day) == before


def test_postgresql_going_away_loses_nothing(deployment, daemon, postgres):
    """Runs queued as the server stops: the daemon stays up and says what it cannot reach; when
    the server is back, every run either completes, or (caught in its launch) is failed by run
    monitoring and completes when run again; the days hold what they held."""
    process, log = daemon
    instance, days = deployment.instance, ["2013-02-08", "2013-02-09"]
    before = {day: schedule_rows(deployment, day) for day in days}
    run_ids = faults.queue_runs(instance, "daily_data", days)
    postgres.stop("fast")
    try:
        address = deployment.postgres
        wait_for(lambda: f'connection to server at "127.0.0.1", port {address.port} failed'
                 in log.read_text(), 120, "the daemon to say which server it cannot reach",
                 log=log)
        time.sleep(5)
        assert process.poll() is None  # still up
    finally:
        postgres.start()
    runs = wait_for(lambda: [instance.get_run_by_id(r) for r in run_ids] if all(
        instance.get_run_by_id(r).is_finished for r in run_ids) else None, PATIENCE,
        "the queued runs to end", log=log)
    for run in runs:
        if run.status != DagsterRunStatus.SUCCESS:
            (again,) = faults.queue_runs(instance, "daily_data", [run.tags["dagster/partition"]])
            wait_for(lambda again=again: instance.get_run_by_id(again).is_finished, PATIENCE,
                     "the re-run", log=log)
            assert instance.get_run_by_id(again).status == DagsterRunStatus.SUCCESS
    assert {day: schedule_rows(deployment, day) for day in days} == before
