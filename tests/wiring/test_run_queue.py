"""Queueing runs and stopping sensors with no webserver (internals/run_queue.py): in this
process, with dagster._cli's functions, as Dagster's own commands do in theirs (the stock part,
RUN_QUEUE=stock)."""

import pytest
from dagster import DagsterRunStatus

from assets.partitions import PARTITION_TAG
from internals.run_queue import operator_session

DAY = "2013-03-01"


@pytest.fixture
def deployment(new_platform, monkeypatch):
    """A new deployment, and this process's environment pointed at it, as the code server and
    the commands read it."""
    platform = new_platform()
    for name, value in platform.environment({}).items():
        monkeypatch.setenv(name, value)
    return platform


def run_as_queued(instance, run_id: str) -> dict:
    run = instance.get_run_by_id(run_id)
    return {"job": run.job_name, "status": run.status, "tags": run.tags,
            "assets": run.asset_selection, "job snapshot": run.job_snapshot_id,
            "plan snapshot": run.execution_plan_snapshot_id,
            "code location": run.remote_job_origin.location_name}


def stopped_sensors(instance) -> set[str]:
    return {state.name for state in instance.all_instigator_state()
            if state.instigator_type.value == "SENSOR" and state.status.value == "STOPPED"}


def test_in_process_queues_and_stops_as_dagsters_commands_do(deployment):
    instance = deployment.instance
    first, second = (sensor.name for sensor in deployment.defs.sensors[:2])
    assert not stopped_sensors(instance)

    with operator_session(instance, stock=False) as session:
        sensors = session.sensor_names()
        session.stop_sensors([first])
        (ours,) = session.queue("daily_data", [DAY])
    assert stopped_sensors(instance) == {first}
    with operator_session(instance, stock=True) as session:  # `dagster sensor list`, `stop`,
        assert session.sensor_names() == sensors             # `job launch`
        session.stop_sensors([second])
        (stock,) = session.queue("daily_data", [DAY])
    assert stopped_sensors(instance) == {first, second}
    assert sensors == {sensor.name for sensor in deployment.defs.sensors}

    queued = run_as_queued(instance, ours)
    assert queued["status"] == DagsterRunStatus.QUEUED  # no daemon: the queue holds it
    assert queued["job"] == "daily_data" and queued["tags"][PARTITION_TAG] == DAY
    assert queued == run_as_queued(instance, stock)


def test_a_session_refuses_an_instance_the_environment_does_not_name(new_platform, deployment):
    other = new_platform("other")
    with pytest.raises(ValueError, match="DAGSTER_HOME .* not the instance's home"):
        with operator_session(other.instance):
            pass
