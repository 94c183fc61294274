"""The analyst's path: dbt alone, from dbt_project/, against the warehouse Dagster writes.

The README's commands, run as written (cd dbt_project && dbt ...), with no Dagster involved.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from resources.settings import REPO_ROOT

DBT = str(Path(sys.executable).parent / "dbt")


def _dbt(*args: str, warehouse: Path, target: Path, env: dict | None = None
         ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DBT, *args, "--target-path", str(target)],
        cwd=REPO_ROOT / "dbt_project", capture_output=True, text=True, timeout=600,
        env={**os.environ, "WAREHOUSE_PATH": str(warehouse), **(env or {})},
    )


def test_dbt_build_and_docs_run_without_dagster(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path)
    warehouse = platform.settings.warehouse_path
    with platform.warehouse.transaction() as con:  # start from raw only, as a fresh analyst would
        con.execute("drop table features.flight_features")

    build = _dbt("build", warehouse=warehouse, target=tmp_path / "target")
    assert build.returncode == 0, build.stdout[-3000:]
    assert "ERROR=0" in build.stdout and "PASS=" in build.stdout  # models and their tests
    # every day of the schedule has its features again
    assert platform.query("select count(distinct flight_date) from features.flight_features") == \
        platform.query("select count(distinct partition_date) from raw.schedule")

    docs = _dbt("docs", "generate", warehouse=warehouse, target=tmp_path / "target")
    assert docs.returncode == 0, docs.stdout[-3000:]
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    assert "model.flight_delays.flight_features" in catalog["nodes"]
    columns = catalog["nodes"]["model.flight_delays.flight_features"]["columns"]
    assert "route_flights_28d" in columns


def test_a_windowed_builds_tests_read_its_days_and_a_plain_build_every_day(
        built_platform, tmp_path):
    """A day's build (Dagster's window, macros/flights.sql) tests that day's rows only
    (macros/tests.sql): a flight scheduled twice on Jan 5 fails the plain build's unique test,
    not the test of Feb 1..2's build, whose cost does not grow with the history."""
    platform = built_platform.clone(tmp_path)
    with platform.warehouse.transaction() as con:
        con.execute("insert into raw.schedule select * from raw.schedule"
                    " where partition_date = '2013-01-05' limit 1")
    window = {"DBT_MIN_DATE": "2013-02-01", "DBT_MAX_DATE": "2013-02-02"}
    windowed = _dbt("test", "--select", "stg_schedule", warehouse=platform.settings.warehouse_path,
                    target=tmp_path / "target", env=window)
    assert windowed.returncode == 0, windowed.stdout[-3000:]
    plain = _dbt("test", "--select", "stg_schedule", warehouse=platform.settings.warehouse_path,
                 target=tmp_path / "target")
    assert plain.returncode != 0
    assert "FAIL 1 unique_stg_schedule_flight_id" in plain.stdout


def test_a_windowed_builds_relationship_test_reads_the_parents_days_and_still_finds_orphans(
        built_platform, tmp_path):
    """An outcome's schedule shares its day (a flight id names it), so the test of Feb 1..2's
    outcomes reads the schedule of Feb 1..2 only (macros/tests.sql, meta: same_day), and the
    test of a day's build does not grow with the history. It still finds an outcome of Feb 1
    whose flight was never scheduled; an orphan of Jan 5 fails the plain build only."""
    platform = built_platform.clone(tmp_path)
    warehouse, target = platform.settings.warehouse_path, tmp_path / "target"
    window = {"DBT_MIN_DATE": "2013-02-01", "DBT_MAX_DATE": "2013-02-02"}
    test = "relationships_stg_outcomes_flight_id__flight_id__ref_stg_schedule_"

    compiled = _dbt("compile", "--select", "stg_outcomes,test_type:generic",
                    warehouse=warehouse, target=target, env=window)
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    sql = next(target.rglob("relationships_stg_outcomes_*.sql")).read_text()
    parent = sql[sql.index("parent as ("):]
    assert "flight_date between cast('2013-02-01' as date) and cast('2013-02-02' as date)" \
        in parent

    def orphan(day: str) -> None:  # the day's first scheduled flight, unscheduled
        with platform.warehouse.transaction() as con:
            con.execute("delete from raw.schedule s using (select partition_date, carrier,"
                        "  flight, origin from raw.outcomes"
                        f" where partition_date = '{day}' order by all limit 1) o"
                        " where (s.partition_date, s.carrier, s.flight, s.origin)"
                        "     = (o.partition_date, o.carrier, o.flight, o.origin)")

    def relationships(env: dict | None = None) -> subprocess.CompletedProcess:
        return _dbt("test", "--select", test, warehouse=warehouse, target=target, env=env)

    orphan("2013-01-05")
    windowed, plain = relationships(window), relationships()
    assert windowed.returncode == 0, windowed.stdout[-3000:]
    assert plain.returncode != 0 and f"FAIL 1 {test}" in plain.stdout, plain.stdout[-3000:]

    orphan("2013-02-01")
    windowed = relationships(window)
    assert windowed.returncode != 0 and f"FAIL 1 {test}" in windowed.stdout, \
        windowed.stdout[-3000:]
