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


def _dbt(*args: str, warehouse: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DBT, *args, "--target-path", str(target)],
        cwd=REPO_ROOT / "dbt_project", capture_output=True, text=True, timeout=600,
        env={**os.environ, "WAREHOUSE_PATH": str(warehouse)},
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
