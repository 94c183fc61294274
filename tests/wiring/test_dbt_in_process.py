"""The parsed dbt project a process reuses for its builds (internals/dbt_in_process.py): kept
while nothing it was parsed from changed, parsed again after an edit or a changed environment,
never for a new build window. (Builds through it: tests/e2e/test_features.py and every test that
materializes dbt assets.)"""

import os
import shutil

from assets.transform.dbt import MAX_DATE_ENV, MIN_DATE_ENV, WINDOW_ENV
from internals.dbt_in_process import location_args, parsed_project
from resources.settings import REPO_ROOT


def test_the_parsed_project_is_reused_until_a_file_or_the_environment_changes(
        tmp_path, monkeypatch):
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO_ROOT / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs"))
    target = tmp_path / "target"
    where = location_args(str(project), str(project), target)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))

    def parse():
        return parsed_project(str(project), where, target, WINDOW_ENV)

    first = parse()
    assert "model.flight_delays.flight_features" in first.nodes
    assert parse() is first

    monkeypatch.setenv(MIN_DATE_ENV, "2013-05-01")  # a new window: read when SQL is compiled
    monkeypatch.setenv(MAX_DATE_ENV, "2013-05-07")
    assert parse() is first

    model = project / "models" / "staging" / "stg_planes.sql"
    model.write_text(model.read_text() + "\n-- an analyst's edit\n")
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    edited = parse()
    assert edited is not first
    assert "an analyst's edit" in edited.nodes["model.flight_delays.stg_planes"].raw_code

    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "elsewhere" / "warehouse.duckdb"))
    assert parse() is not edited
