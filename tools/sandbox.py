"""A whole deployment in one folder: its settings, Definitions, Dagster instance, warehouse
and landing zone. What the tests, `make bench` and `make chaos` run against; each runs its
assets through platform/runner.py.
"""

import os
import shutil
from datetime import date
from pathlib import Path

from dagster import DagsterInstance

from core.ingest.upstream import land_days
from instance.config import InstanceChoices, set_engine_pool_limit
from instance.config import install as install_instance_config
from instance.postgres import PASSWORD_ENV, PostgresAddress
from resources.settings import REPO_ROOT, Settings
from resources.warehouse import DuckDBWarehouse
from spark.cluster import LocalSparkCluster, java_options_from_env
from spark.connection import SparkConnection

PLATFORM_DIR = REPO_ROOT / "platform"
# Where a process that runs the platform finds its code: the repo's packages and platform/'s
# modules (the Makefile exports the same; pytest's configuration in pyproject.toml too).
CODE_PYTHONPATH = os.pathsep.join([str(REPO_ROOT), str(PLATFORM_DIR)])
# Six weeks of history give holdout AUCs near 0.6 and MAEs near 30 minutes: on such a short
# window the specs' quality floors (set for the full year) are relaxed, to test the mechanism,
# not the model.
SMALL_WINDOW = {"not_on_time": {"gate": {"worst_acceptable": 0.5}},
                "arrival_delay": {"gate": {"worst_acceptable": 60.0}}}


def make_settings(root: Path, dbt_project_dir: Path = REPO_ROOT / "dbt_project",
                  model_specs_dir: Path = REPO_ROOT / "model_specs",
                  dbt_runs: str = "in_process", spark: LocalSparkCluster | None = None
                  ) -> Settings:
    """``spark``: ENGINE=spark on that cluster and its catalog, the lake under ``root``."""
    data = root / "data"
    if spark is not None:
        spark = SparkConnection(master=spark.master_url, metastore_uri=spark.metastore_uri,
                                lake_dir=data / "lake", java_options=java_options_from_env())
    return Settings(
        data_dir=data,
        landing_dir=data / "landing",
        quarantine_dir=data / "quarantine",
        warehouse_path=data / "warehouse.duckdb",
        model_store_dir=data / "models",
        dbt_project_dir=dbt_project_dir,
        model_specs_dir=model_specs_dir,
        dbt_runs=dbt_runs,
        spark=spark,
    )


# Dagster's own event log and run launcher (dagster-dbt's own dbt runs: Settings.dbt_runs).
STOCK_PARTS = InstanceChoices(event_log="stock", run_launcher="stock")


def make_instance(root: Path, choices: InstanceChoices | None = None,
                  postgres: PostgresAddress | None = None) -> DagsterInstance:
    """The instance of the deployment in ``root``: by default the embedded one (SQLite, the
    speed-ups of internals/), whatever the environment says; on ``postgres`` when given."""
    home = root / "dagster_home"
    if postgres is not None:
        choices = InstanceChoices("postgres", *((choices.event_log, choices.run_launcher)
                                                if choices else ()))
    install_instance_config(home, choices or InstanceChoices(), postgres)
    return DagsterInstance.from_config(str(home))


class Platform:
    """One isolated deployment under ``root``. ``spec_overrides`` ({model: partial spec})
    change the model specs without editing them (a lower quality floor on a short window);
    ``stock`` runs it on Dagster's and dagster-dbt's own parts instead of internals/."""

    def __init__(self, root: Path, definitions_module, runner, spec_overrides=None,
                 dbt_project_dir: Path = REPO_ROOT / "dbt_project",
                 model_specs_dir: Path = REPO_ROOT / "model_specs", stock: bool = False,
                 postgres: PostgresAddress | None = None, parts: InstanceChoices | None = None,
                 dbt_runs: str | None = None, spark: LocalSparkCluster | None = None):
        """``parts`` and ``dbt_runs`` pick the stock parts one by one (``stock``: all);
        ``spark`` puts the warehouse on Spark (ENGINE=spark) on that cluster."""
        self.root = root
        self.stock = stock
        dbt_runs = dbt_runs or ("subprocess" if stock else "in_process")
        self.settings = make_settings(root, dbt_project_dir, model_specs_dir, dbt_runs,
                                      spark)
        self.spec_overrides = spec_overrides
        self.defs = definitions_module.build_definitions(self.settings, spec_overrides)
        self.postgres = postgres
        self.instance = make_instance(root, parts or (STOCK_PARTS if stock else None), postgres)
        if spark is not None:
            set_engine_pool_limit(self.instance)
        self._definitions_module = definitions_module
        self.runner = runner

    def environment(self, base: dict) -> dict:
        """``base`` (os.environ, say) pointed at this deployment: what a Dagster process of it
        (`dagster dev`, a daemon, a webserver) needs to find its instance, data and code."""
        settings = self.settings
        env = {**base, "DAGSTER_HOME": str(self.root / "dagster_home"),
               "PLATFORM_DATA_DIR": str(settings.data_dir),
               "LANDING_DIR": str(settings.landing_dir),
               "WAREHOUSE_PATH": str(settings.warehouse_path),
               "MODEL_SPECS_DIR": str(settings.model_specs_dir),
               "DBT_RUNS": settings.dbt_runs, "PYTHONPATH": CODE_PYTHONPATH}
        if self.postgres is not None:
            env[PASSWORD_ENV] = self.postgres.password
        if settings.spark is not None:
            env.update(ENGINE="spark", **settings.spark.environment())
        return env

    def land(self, first: date, last: date):
        return land_days(self.settings.landing_dir, first, last)

    def materialize(self, first: date, last: date, groups: tuple[str, ...] = ()):
        return self.runner.materialize_days(
            self.defs, self.instance, first, last, groups, log=lambda _: None
        )

    @property
    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse.of(self.settings)

    def query(self, sql: str, params=None):
        with self.warehouse.connect(read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def query_frame(self, sql: str, params=None):
        with self.warehouse.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def clone(self, root: Path, spec_overrides=None, dbt_project_dir: Path | None = None,
              model_specs_dir: Path | None = None) -> "Platform":
        """A copy of this deployment under ``root``: its data and its Dagster instance (runs,
        materializations), so the copy knows what it holds.

        Clone before training: the hand-offs between ML assets name absolute paths.
        """
        if self.postgres is not None:
            raise ValueError("a deployment on PostgreSQL is not copied as files: build another")
        shutil.copytree(self.settings.data_dir, root / "data")
        shutil.copytree(self.root / "dagster_home", root / "dagster_home")
        return Platform(root, self._definitions_module, self.runner, spec_overrides,
                        dbt_project_dir or self.settings.dbt_project_dir,
                        model_specs_dir or self.settings.model_specs_dir, self.stock)

    def execute(self, keys, **options):
        return self.runner.execute(self.defs, self.instance, keys, log=lambda _: None, **options)

    @property
    def models(self):
        """The ModelKeys of every model spec this deployment serves."""
        return self.runner.model_keys(self.defs)

    def train(self, cutoff: str, train_days=None, holdout_days=14, models=None,
              perfect_forecast_ablation=False, **hyperparameters):
        """training_set -> model (+ checks) -> evaluation of every model (or ``models``) for
        one cutoff; ``hyperparameters`` override the specs' for this run."""
        models = models or self.models
        run_config = self.runner.training_run_config(models, train_days, holdout_days,
                                                     perfect_forecast_ablation)
        for model in models:
            if hyperparameters:
                run_config["ops"][model.op_name(model.model)] = {"config": hyperparameters}
        return self.execute([key for model in models for key in model.training],
                            partition_key=cutoff, run_config=run_config)

    def promote(self, models=None):
        return self.execute([model.champion for model in models or self.models])
