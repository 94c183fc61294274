"""When a build on Spark gives up on a cluster with no executor (spark/executor_watch.py)."""

from spark.executor_watch import Starvation


def test_work_without_executors_is_cancelled_once_patience_runs_out():
    starvation = Starvation(patience=30)
    assert not starvation.observe(0, running_jobs=1, executors=0)
    assert not starvation.observe(29, running_jobs=1, executors=0)
    assert starvation.observe(30, running_jobs=1, executors=0)


def test_an_executor_or_no_work_is_no_reason_to_cancel():
    starvation = Starvation(patience=30)
    assert not starvation.observe(0, running_jobs=1, executors=1)  # one worker left is enough
    assert not starvation.observe(100, running_jobs=0, executors=0)  # idle, between steps
    assert not starvation.observe(200, running_jobs=1, executors=0)  # the wait starts here
    assert not starvation.observe(210, running_jobs=1, executors=1)  # an executor came back
    assert not starvation.observe(235, running_jobs=1, executors=0)  # so it starts again
    assert starvation.observe(265, running_jobs=1, executors=0)


def test_once_lost_later_steps_are_cancelled_without_waiting_again():
    starvation = Starvation(patience=30)
    starvation.observe(0, running_jobs=1, executors=0)
    assert starvation.observe(30, running_jobs=1, executors=0)
    assert not starvation.observe(31, running_jobs=0, executors=0)  # dbt moves to its next node
    assert starvation.observe(32, running_jobs=1, executors=0)  # whose job goes at once
    assert not starvation.observe(40, running_jobs=1, executors=2)  # until the workers return
    assert not starvation.observe(41, running_jobs=1, executors=0)
