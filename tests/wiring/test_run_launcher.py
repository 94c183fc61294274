"""The local instance's run launcher (internals/run_launcher.py), on a real instance: runs
handed to real worker processes, started before them, terminated and killed."""

import os
import signal
import time

import pytest
from dagster import DagsterInstance
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.storage.dagster_run import DagsterRunStatus

from internals.run_launcher import WORKER_KIND_TAG, WORKER_PID_TAG

# A step that waits for a file to exist when GATE_FILE names one (a run to stop midway).
JOB_FILE = """
import os, time
from pathlib import Path
from dagster import in_process_executor, job, op

@op
def wait_for_the_gate():
    gate = os.environ.get("GATE_FILE")
    while gate and not Path(gate).exists():
        time.sleep(0.05)

@job(executor_def=in_process_executor)
def gated():
    wait_for_the_gate()
"""


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"), overrides={"run_launcher": {
        "module": "internals.run_launcher", "class": "WarmRunLauncher",
        "config": {"idle_workers": 1, "preload": ["dagster"]}}})
    yield instance
    instance.run_launcher.dispose()
    instance.dispose()


@pytest.fixture
def job(tmp_path):
    (tmp_path / "gated_job.py").write_text(JOB_FILE)
    return ReconstructableJob.for_file(str(tmp_path / "gated_job.py"), "gated")


def launch(instance, job) -> str:
    run = instance.create_run_for_job(job_def=job.get_definition(),
                                      job_code_origin=job.get_python_origin())
    instance.launch_run(run.run_id, workspace=None)
    return run.run_id


def wait_for(what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not (value := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def finished(instance, run_id):
    return wait_for(lambda: (run := instance.get_run_by_id(run_id)).is_finished and run)


def started(instance, run_id):
    wait_for(lambda: instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED)
    return int(instance.get_run_by_id(run_id).tags[WORKER_PID_TAG])


def exited(pid: int) -> bool:
    """Our child ``pid`` has ended (reaped here, or already by subprocess's clean-up)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def test_a_run_goes_to_a_worker_that_imported_before_it_was_launched(instance, job):
    first = launch(instance, job)  # nothing idle yet: a worker started for it
    assert finished(instance, first).status == DagsterRunStatus.SUCCESS
    idle = wait_for(instance.run_launcher.idle_worker_pids)  # started once no run is running
    second = launch(instance, job)
    run = finished(instance, second)
    assert run.status == DagsterRunStatus.SUCCESS
    assert int(run.tags[WORKER_PID_TAG]) in idle
    assert run.tags[WORKER_KIND_TAG] == "warm"
    assert instance.get_run_by_id(first).tags[WORKER_KIND_TAG] == "cold"
    assert int(instance.get_run_by_id(first).tags[WORKER_PID_TAG]) not in idle
    messages = [record.message for record in instance.all_logs(second)]
    assert any(f"worker process {run.tags[WORKER_PID_TAG]} (warm:" in message
               for message in messages), messages


def test_an_idle_worker_that_died_is_passed_over(instance, job):
    assert finished(instance, launch(instance, job)).status == DagsterRunStatus.SUCCESS
    (dead,) = wait_for(instance.run_launcher.idle_worker_pids)
    os.kill(dead, signal.SIGKILL)
    wait_for(lambda: dead not in instance.run_launcher.idle_worker_pids())
    run = finished(instance, launch(instance, job))
    assert run.status == DagsterRunStatus.SUCCESS
    assert int(run.tags[WORKER_PID_TAG]) != dead


def test_terminate_cancels_the_run_in_its_worker(instance, job, tmp_path, monkeypatch):
    monkeypatch.setenv("GATE_FILE", str(tmp_path / "never"))
    run_id = launch(instance, job)
    started(instance, run_id)
    assert instance.run_launcher.terminate(run_id)
    assert finished(instance, run_id).status == DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(run_id)  # already over


def test_a_killed_worker_fails_the_health_check_with_its_exit_code(instance, job, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("GATE_FILE", str(tmp_path / "gate"))
    run_id = launch(instance, job)
    pid = started(instance, run_id)
    launcher = instance.run_launcher
    assert launcher.check_run_worker_health(instance.get_run_by_id(run_id)).status.value == \
        "RUNNING"
    os.kill(pid, signal.SIGKILL)
    health = wait_for(lambda: (result := launcher.check_run_worker_health(
        instance.get_run_by_id(run_id))).status.value == "FAILED" and result)
    assert str(pid) in health.msg
    assert "-9" in health.msg or "no longer exists" in health.msg


def test_disposing_of_the_launcher_ends_its_idle_workers(instance, job):
    assert finished(instance, launch(instance, job)).status == DagsterRunStatus.SUCCESS
    idle = wait_for(instance.run_launcher.idle_worker_pids)
    instance.run_launcher.dispose()
    for pid in idle:
        wait_for(lambda pid=pid: exited(pid), timeout=30)
    assert instance.run_launcher.idle_worker_pids() == []
