"""Safe defaults: loopback UI, paths from the environment, no values spliced into SQL."""

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

from core.ingest.contract import SCHEDULE, LandingFileError
from core.ingest.upstream import land_days
from core.ingest.validation import read_landing_files
from resources.landing import LandingZone
from resources.settings import REPO_ROOT, Settings


def _make_dry_run(*args: str) -> str:
    return subprocess.run(["make", "-n", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_ui_binds_to_loopback_unless_told_otherwise():
    assert re.search(r"dagster dev .*-h 127\.0\.0\.1 ", _make_dry_run("-W", "pyproject.toml", "ui"))
    assert "-h 0.0.0.0 " in _make_dry_run("ui", "UI_HOST=0.0.0.0")


def test_every_path_comes_from_the_environment(monkeypatch, tmp_path):
    names = {"PLATFORM_DATA_DIR": "data_dir", "LANDING_DIR": "landing_dir",
             "QUARANTINE_DIR": "quarantine_dir", "WAREHOUSE_PATH": "warehouse_path",
             "MODEL_STORE_DIR": "model_store_dir", "DBT_PROJECT_DIR": "dbt_project_dir"}
    for variable, field in names.items():
        monkeypatch.setenv(variable, str(tmp_path / field))
    settings = Settings.from_env()
    for field in names.values():
        assert getattr(settings, field) == tmp_path / field


def test_dbt_profile_takes_its_path_from_the_environment():
    profile = (REPO_ROOT / "dbt_project" / "profiles.yml").read_text()
    assert "env_var('WAREHOUSE_PATH'" in profile
    assert not re.search(r"password|token|secret", profile, re.IGNORECASE)


def test_no_credentials_or_machine_paths_in_the_repo():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO_ROOT / name
        if path == Path(__file__).resolve():  # this file names the patterns it looks for
            continue
        if path.suffix not in {".py", ".yml", ".yaml", ".toml", ".sql", ".md", ""} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if re.search(r"(password|api_key|secret_key)\s*[:=]\s*['\"]\w", text, re.IGNORECASE):
            offenders.append(name)
        if "/work/" in text or "/root/" in text:
            offenders.append(name)
    assert offenders == []


@pytest.mark.parametrize("name", ["2013-03-01'; drop table raw.flights; --.csv", "2013-13-45.csv"])
def test_a_file_name_that_is_not_a_day_is_rejected_not_run(tmp_path, name):
    land_days(tmp_path / "landing", date(2013, 3, 1), date(2013, 3, 1), datasets=("schedule",))
    zone = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    hostile = tmp_path / "hostile" / name
    hostile.parent.mkdir(parents=True, exist_ok=True)
    hostile.write_bytes(zone.file_for("schedule", date(2013, 3, 1)).read_bytes())
    with pytest.raises(LandingFileError, match="not a day"):
        read_landing_files(SCHEDULE, [hostile])
