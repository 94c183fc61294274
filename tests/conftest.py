"""Shared fixtures: a real DuckDB file, real dbt and a real Dagster instance, all in temp dirs.

Building a window costs a dbt run (seconds), so one January + early February build is shared
by the read-only tests (session scope); tests that change data work on their own copies.
"""

import importlib.util
import os
import shutil
import warnings
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, BetaWarning, DagsterInstance, PreviewWarning
from hypothesis import settings as hypothesis_settings

from core.simulator import land_days
from resources.settings import REPO_ROOT, Settings
from resources.warehouse import DuckDBWarehouse

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

# Property tests: `make test` runs a fixed, reproducible set of examples (derandomized, no example
# database); `make chaos` runs the same properties over many more random ones.
hypothesis_settings.register_profile("make-test", derandomize=True, database=None,
                                     max_examples=150, deadline=None)
hypothesis_settings.register_profile("chaos", max_examples=2000, database=None, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "make-test"))

SHARED_FIRST, SHARED_LAST = date(2013, 1, 1), date(2013, 2, 12)
ML_TRAINING_KEYS = [AssetKey(["ml", "training_set"]), AssetKey(["ml", "delay_model"]),
                    AssetKey(["ml", "model_evaluation"])]


def load_platform_module(name: str):
    """platform/ is a plain folder (a package named platform would shadow the stdlib's)."""
    spec = importlib.util.spec_from_file_location(
        f"platform_{name}_under_test", REPO_ROOT / "platform" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cli():
    return load_platform_module("cli")


@pytest.fixture(scope="session")
def definitions_module():
    return load_platform_module("definitions")


def make_settings(root: Path, dbt_project_dir: Path = REPO_ROOT / "dbt_project") -> Settings:
    data = root / "data"
    return Settings(
        data_dir=data,
        landing_dir=data / "landing",
        quarantine_dir=data / "quarantine",
        warehouse_path=data / "warehouse.duckdb",
        model_store_dir=data / "models",
        dbt_project_dir=dbt_project_dir,
    )


def make_instance(root: Path) -> DagsterInstance:
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "platform" / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.from_config(str(home))


class Platform:
    """One isolated deployment: settings, Definitions, instance."""

    def __init__(self, root: Path, definitions_module, cli, model_policy=None,
                 dbt_project_dir: Path = REPO_ROOT / "dbt_project"):
        self.root = root
        self.settings = make_settings(root, dbt_project_dir)
        self.defs = definitions_module.build_definitions(self.settings, model_policy)
        self.instance = make_instance(root)
        self._definitions_module = definitions_module
        self._cli = cli

    def land(self, first: date, last: date):
        return land_days(self.settings.landing_dir, first, last)

    def materialize(self, first: date, last: date, groups: tuple[str, ...] = ()):
        return self._cli.materialize_days(
            self.defs, self.instance, first, last, groups, log=lambda _: None
        )

    @property
    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(path=str(self.settings.warehouse_path))

    def query(self, sql: str, params=None):
        with self.warehouse.connect(read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def query_frame(self, sql: str, params=None):
        with self.warehouse.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def clone(self, root: Path, model_policy=None, dbt_project_dir: Path | None = None) -> "Platform":
        """A copy of this deployment under ``root``: its data and its Dagster instance (runs,
        materializations), so the copy knows what it holds.

        Clone before training: the hand-offs between ML assets name absolute paths.
        """
        shutil.copytree(self.settings.data_dir, root / "data")
        shutil.copytree(self.root / "dagster_home", root / "dagster_home")
        return Platform(root, self._definitions_module, self._cli, model_policy,
                        dbt_project_dir or self.settings.dbt_project_dir)

    def execute(self, keys, **options):
        return self._cli.execute(self.defs, self.instance, keys, log=lambda _: None, **options)

    def train(self, cutoff: str, train_days=None, holdout_days=14, **model_config):
        """training_set -> delay_model (+ checks) -> model_evaluation for one cutoff."""
        run_config = self._cli.training_run_config(train_days, holdout_days)
        if model_config:
            run_config["ops"]["ml__delay_model"] = {"config": model_config}
        return self.execute(ML_TRAINING_KEYS, partition_key=cutoff, run_config=run_config)

    def promote(self):
        return self.execute([AssetKey(["ml", "champion"])])


@pytest.fixture
def new_platform(tmp_path, definitions_module, cli):
    return lambda name="platform": Platform(tmp_path / name, definitions_module, cli)


@pytest.fixture(scope="session")
def built_platform(tmp_path_factory, definitions_module, cli):
    """Jan 1 .. Feb 12 landed and materialized (raw, staging, features) through Dagster."""
    platform = Platform(tmp_path_factory.mktemp("built"), definitions_module, cli)
    platform.land(SHARED_FIRST, SHARED_LAST)
    platform.outcome = platform.materialize(SHARED_FIRST, SHARED_LAST)
    return platform
