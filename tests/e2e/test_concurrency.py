"""Four runs on different days (two on the stock parts), dequeued together by the real daemon,
share the one DuckDB file without a single lock error.

DuckDB lets one process write a file; a second one fails with "Could not set lock on file".
The runs go through the instance's run queue (QueuedRunCoordinator, max_concurrent_runs 4 in
platform/dagster.yaml), so all four run workers start together; the `duckdb` pool and the
warehouse's file lock make their steps take turns.
"""

import duckdb
import pytest

from tools import faults

DAYS = ["2013-03-01", "2013-03-02", "2013-03-03", "2013-03-04"]


@pytest.mark.parametrize("instance", ["sqlite", "postgres", "stock"])
def test_four_queued_runs_finish_with_no_lock_errors(tmp_path, monkeypatch, instance, request):
    """On the embedded SQLite instance; on PostgreSQL, where claiming the pool's slot is a
    database transaction; and on Dagster's stock parts (its SQLite event log, its default run
    launcher, dagster-dbt's dbt subprocess), which the speed-ups of internals/ stand in for."""
    for name in ("PLATFORM_DATA_DIR", "WAREHOUSE_PATH", "DAGSTER_HOME", "PYTHONPATH",
                 "DAGSTER_PG_PASSWORD", "DBT_RUNS"):
        monkeypatch.setenv(name, "")  # the scenario points these at tmp_path; restored after
    postgres = request.getfixturevalue("postgres_database") if instance == "postgres" else None
    # On the stock parts each run starts a process of its own (~20 s of imports here): two do.
    days = DAYS[:2] if instance == "stock" else DAYS
    outcome = faults.run_days_through_queue(tmp_path, days, postgres=postgres,
                                            stock=instance == "stock")

    assert outcome["queued_statuses"] == {"QUEUED"}
    records = outcome["records"]
    assert {r.dagster_run.status.value for r in records} == {"SUCCESS"}, [
        (r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in records
    ]
    # They were in flight together: each started before any of them ended.
    assert max(r.start_time for r in records) < min(r.end_time for r in records)
    assert not [m for m in outcome["messages"] if faults.is_lock_error(m)]
    assert not [m for m in outcome["messages"] if "up for retry" in m.lower()]

    with duckdb.connect(str(outcome["warehouse_path"]), read_only=True) as con:
        built = con.execute(
            "select flight_date, count(*) from features.flight_features group by 1 order by 1"
        ).fetchall()
    assert [str(day) for day, _ in built] == days
