"""Runs on different days, dequeued together by the real daemon, share the one DuckDB file
without a single lock error (on PostgreSQL, in that instance's own daemon:
tests/e2e/test_postgres_instance.py).

DuckDB lets one process write a file; a second one fails with "Could not set lock on file".
The runs go through the instance's run queue (QueuedRunCoordinator, max_concurrent_runs 4 in
platform/dagster.yaml), so their run workers start together; the `duckdb` pool and the
warehouse's file lock make their steps take turns.
"""

import duckdb
import pytest
from dagster import DagsterEventType

from tools import faults

DAYS = ["2013-03-01", "2013-03-02"]


def assert_in_flight_together_without_lock_errors(outcome: dict, days: list[str]):
    instance, records = outcome["instance"], outcome["records"]
    assert {r.dagster_run.status.value for r in records} == {"SUCCESS"}, [
        (r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records
    ]
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == days
    for record in records:  # through the run queue
        events = instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.RUN_ENQUEUED)
        assert events, record.dagster_run.run_id
    # They were in flight together: each started before any of them ended.
    assert max(r.start_time for r in records) < min(r.end_time for r in records)
    assert not [m for m in outcome["messages"] if faults.is_lock_error(m)]
    assert not [m for m in outcome["messages"] if "up for retry" in m.lower()]
    with duckdb.connect(str(outcome["warehouse_path"]), read_only=True) as con:
        built = con.execute(
            "select distinct flight_date::varchar from features.flight_features"
            " where list_contains(?, flight_date::varchar) order by 1", [days]).fetchall()
    assert [day for (day,) in built] == days


@pytest.mark.parametrize("instance", ["sqlite", "stock"])
def test_queued_runs_in_flight_together_finish_with_no_lock_errors(tmp_path, monkeypatch,
                                                                  instance):
    """On the embedded SQLite instance, and on Dagster's stock parts (its SQLite event log, its
    default run launcher, dagster-dbt's dbt subprocess), which the speed-ups of internals/ stand
    in for."""
    for name in ("PLATFORM_DATA_DIR", "WAREHOUSE_PATH", "DAGSTER_HOME", "PYTHONPATH",
                 "DAGSTER_PG_PASSWORD", "DBT_RUNS"):
        monkeypatch.setenv(name, "")  # the scenario points these at tmp_path; restored after
    outcome = faults.run_days_through_queue(tmp_path, DAYS, stock=instance == "stock")

    assert outcome["queued_statuses"] == {"QUEUED"}
    assert_in_flight_together_without_lock_errors(outcome, DAYS)
    with duckdb.connect(str(outcome["warehouse_path"]), read_only=True) as con:
        (days,) = con.execute("select count(distinct flight_date) from features.flight_features"
                              ).fetchone()
    assert days == len(DAYS)  # nothing but the queued days was built
