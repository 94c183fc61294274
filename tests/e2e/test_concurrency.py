"""Four runs on different days, dequeued together by the real daemon, share the one DuckDB
file without a single lock error.

DuckDB lets one process write a file; a second one fails with "Could not set lock on file".
The runs go through the instance's run queue (QueuedRunCoordinator, max_concurrent_runs 4 in
platform/dagster.yaml), so all four run workers start together; the `duckdb` pool and the
warehouse's file lock make their steps take turns.
"""

import duckdb
import pytest

from tools import faults

DAYS = ["2013-03-01", "2013-03-02", "2013-03-03", "2013-03-04"]


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_four_queued_runs_finish_with_no_lock_errors(tmp_path, monkeypatch, storage, request):
    """On the embedded SQLite instance and on PostgreSQL, where claiming the pool's slot is a
    database transaction."""
    for name in ("PLATFORM_DATA_DIR", "WAREHOUSE_PATH", "DAGSTER_HOME", "PYTHONPATH",
                 "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(name, "")  # the scenario points these at tmp_path; restored after
    postgres = request.getfixturevalue("postgres_database") if storage == "postgres" else None
    outcome = faults.run_days_through_queue(tmp_path, DAYS, postgres=postgres)

    assert outcome["queued_statuses"] == {"QUEUED"}
    records = outcome["records"]
    assert {r.dagster_run.status.value for r in records} == {"SUCCESS"}, [
        (r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records
    ]
    # The four were in flight together: each started before any of them ended.
    assert max(r.start_time for r in records) < min(r.end_time for r in records)
    assert not [m for m in outcome["messages"] if faults.is_lock_error(m)]
    assert not [m for m in outcome["messages"] if "up for retry" in m.lower()]

    with duckdb.connect(str(outcome["warehouse_path"]), read_only=True) as con:
        days = con.execute(
            "select flight_date, count(*) from features.flight_features group by 1 order by 1"
        ).fetchall()
    assert [str(day) for day, _ in days] == DAYS
