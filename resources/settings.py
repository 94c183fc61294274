"""The one settings object: every path the platform reads or writes, from the environment.

Defaults keep everything under the repository (git-ignored), so a fresh clone works with no
configuration; tests and deployments point the same names somewhere else.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from spark.connection import SparkConnection

REPO_ROOT = Path(__file__).resolve().parent.parent


DBT_RUNS = ("in_process", "subprocess")
# Where the tables live and what builds them: the embedded DuckDB file, or Parquet in a lake
# built by a Spark cluster (docs/scaling.md).
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    landing_dir: Path
    quarantine_dir: Path  # landing files that broke the contract, each with a reason file
    warehouse_path: Path
    model_store_dir: Path
    dbt_project_dir: Path
    model_specs_dir: Path = REPO_ROOT / "model_specs"  # one YAML per model (core/train/model_spec.py)
    # The dbt the platform runs: by default the one installed beside the running interpreter,
    # so that it does not matter whether the virtual environment is on PATH.
    dbt_executable: str = str(Path(sys.executable).parent / "dbt")
    # How long a step waits for another process's use of the warehouse before it fails (and is
    # retried); longer than any single write.
    warehouse_lock_wait_seconds: float = 900.0
    # Days a point-in-time audit rebuilds as of their prediction time (~1-4 s each), once per
    # change of the SQL upstream of a feature model or of its declared inputs.
    point_in_time_audit_days: int = 3
    # How the dbt assets run dbt: in the run's own process (internals/dbt_in_process.py), or as
    # dagster-dbt's subprocess (DBT_RUNS=subprocess: no internal of dagster-dbt relied on).
    dbt_runs: str = "in_process"
    # The pipeline's service level objectives (core/monitor/service_levels.py).
    objectives_file: Path = REPO_ROOT / "platform" / "objectives.yaml"
    # Where alerts link to: the Dagster UI's address as the on-call person opens it.
    ui_url: str = "http://localhost:3000"
    # Alerts are also POSTed here as JSON when set (a chat or paging service's webhook).
    alert_webhook_url: str | None = None
    spark: SparkConnection | None = None  # ENGINE=spark: the cluster, the lake, the catalog

    def __post_init__(self):
        if self.dbt_runs not in DBT_RUNS:
            raise ValueError(f"DBT_RUNS {self.dbt_runs!r} is not one of {', '.join(DBT_RUNS)}")

    @property
    def engine(self) -> str:
        return "spark" if self.spark else "duckdb"

    @property
    def prediction_lead_days(self) -> int:
        """Day D is scored at the end of day D - prediction_lead_days. Stated once, where the
        features are computed: the dbt project's vars (dbt_project.yml)."""
        return _dbt_project_vars(self.dbt_project_dir)["prediction_lead_days"]

    @property
    def dbt_manifest_path(self) -> Path:
        """The manifest `make` prepares (dbt parse); model specs are checked against it."""
        return self.dbt_project_dir / "target" / "manifest.json"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder for this deployment's runs (kept: partial parsing state)."""
        return self.data_dir / "dbt_target"

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = data_dir_from_env()
        engine = os.environ.get("ENGINE", "duckdb")
        if engine not in ENGINES:
            raise ValueError(f"ENGINE {engine!r} is not one of {', '.join(ENGINES)}")
        return cls(
            data_dir=data_dir,
            landing_dir=Path(os.environ.get("LANDING_DIR", data_dir / "landing")).resolve(),
            quarantine_dir=Path(
                os.environ.get("QUARANTINE_DIR", data_dir / "quarantine")
            ).resolve(),
            # dbt_project/profiles.yml falls back to the same variable with the same default, so
            # an analyst's `dbt build` in dbt_project/ writes the file Dagster does.
            warehouse_path=Path(
                os.environ.get("WAREHOUSE_PATH", REPO_ROOT / "data" / "warehouse.duckdb")
            ).resolve(),
            model_store_dir=Path(os.environ.get("MODEL_STORE_DIR", data_dir / "models")).resolve(),
            dbt_project_dir=Path(
                os.environ.get("DBT_PROJECT_DIR", REPO_ROOT / "dbt_project")
            ).resolve(),
            model_specs_dir=Path(
                os.environ.get("MODEL_SPECS_DIR", REPO_ROOT / "model_specs")).resolve(),
            dbt_executable=os.environ.get("DBT_EXECUTABLE", str(Path(sys.executable).parent / "dbt")),
            warehouse_lock_wait_seconds=float(os.environ.get("WAREHOUSE_LOCK_WAIT_SECONDS", 900)),
            point_in_time_audit_days=int(os.environ.get("POINT_IN_TIME_AUDIT_DAYS", 3)),
            dbt_runs=os.environ.get("DBT_RUNS", "in_process"),
            objectives_file=Path(os.environ.get(
                "OBJECTIVES_FILE", REPO_ROOT / "platform" / "objectives.yaml")).resolve(),
            ui_url=os.environ.get("DAGSTER_UI_URL", "http://localhost:3000"),
            alert_webhook_url=os.environ.get("ALERT_WEBHOOK_URL") or None,
            spark=SparkConnection.from_env(data_dir) if engine == "spark" else None,
        )


def data_dir_from_env() -> Path:
    """Where the deployment keeps its data: PLATFORM_DATA_DIR, else data/ in the repo."""
    return Path(os.environ.get("PLATFORM_DATA_DIR", REPO_ROOT / "data")).resolve()


@functools.cache
def _dbt_project_vars(project_dir: Path) -> dict:
    return yaml.safe_load((project_dir / "dbt_project.yml").read_text())["vars"]
