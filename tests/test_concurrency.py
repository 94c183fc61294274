"""Two overlapping runs on one DuckDB file queue on the `duckdb` pool instead of failing.

Without the pool, the second process to open the file fails with "Could not set lock on file"
(DuckDB allows one writing process). Each CLI process is a separate run in one instance.
"""

import os
import subprocess
import sys
from datetime import date

from resources.landing import land_days
from resources.settings import REPO_ROOT
from tests.conftest import make_instance


def test_overlapping_runs_both_succeed(tmp_path):
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 3, 1), date(2013, 3, 2))
    make_instance(tmp_path)  # writes dagster_home/dagster.yaml with the pool limit
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "LANDING_DIR": str(landing),
        "WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    runs = [
        subprocess.Popen(
            [sys.executable, "platform/cli.py", "materialize", "--start", day, "--end", day],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for day in ("2013-03-01", "2013-03-02")
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output[-3000:]
        assert "Could not set lock" not in output

    import duckdb

    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as con:
        days = con.execute(
            "select distinct flight_date from features.flight_features order by 1"
        ).fetchall()
    assert [day for (day,) in days] == [date(2013, 3, 1), date(2013, 3, 2)]
