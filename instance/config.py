"""The Dagster instance's configuration: platform/dagster.yaml (the local instance: the run queue,
the warehouse's pool, run monitoring, sensors in threads, the speed-ups of internals/), written
into DAGSTER_HOME with the choices a deployment makes:

- its storage: ``sqlite`` (files in DAGSTER_HOME, the embedded default) or ``postgres`` (a local
  server of its own, instance/postgres.py, configured in the shape of the cluster's
  deploy/dagster.yaml: the psycopg2 scheme, the password from DAGSTER_PG_PASSWORD);
- for each speed-up that reaches into Dagster's internals, Dagster's stock part instead:
  ``EVENT_LOG=stock`` (Dagster's SQLite event log), ``RUN_LAUNCHER=stock`` (Dagster's default
  launcher). The third, DBT_RUNS, is read by the dbt assets (resources/settings.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from instance.postgres import PASSWORD_ENV, LocalPostgres, PostgresAddress
from resources.settings import REPO_ROOT
from spark.connection import SPARK_POOL, concurrent_builds_from_env

BASE_CONFIG = REPO_ROOT / "platform" / "dagster.yaml"
STORAGES = ("sqlite", "postgres")
EVENT_LOGS = ("batched", "stock")
RUN_LAUNCHERS = ("warm", "stock")


@dataclass(frozen=True)
class InstanceChoices:
    storage: str = "sqlite"
    event_log: str = "batched"  # internals/event_log_storage.py, or Dagster's (SQLite only)
    run_launcher: str = "warm"  # internals/run_launcher.py, or Dagster's default

    def __post_init__(self):
        for name, allowed in (("storage", STORAGES), ("event_log", EVENT_LOGS),
                              ("run_launcher", RUN_LAUNCHERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of"
                                 f" {', '.join(allowed)}")

    @classmethod
    def from_env(cls) -> InstanceChoices:
        return cls(os.environ.get("INSTANCE", "sqlite"), os.environ.get("EVENT_LOG", "batched"),
                   os.environ.get("RUN_LAUNCHER", "warm"))


def postgres_folder(home: Path) -> Path:
    """Where the deployment's own PostgreSQL server lives."""
    return Path(home) / "postgres"


def instance_config(home: Path, choices: InstanceChoices,
                    postgres: PostgresAddress | None = None) -> dict:
    """The configuration of the instance in ``home``."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    event_log = config.pop("event_log_storage")
    if choices.storage == "postgres":
        if postgres is None:
            raise ValueError("a postgres instance needs the server's address")
        config["storage"] = {"postgres": {"postgres_db": {
            # SQLAlchemy 2 maps a bare postgresql:// to psycopg 3; dagster-postgres installs
            # psycopg2, so the scheme says which driver.
            "scheme": "postgresql+psycopg2",
            "hostname": postgres.host, "port": postgres.port, "db_name": postgres.database,
            "username": postgres.username, "password": {"env": PASSWORD_ENV}}}}
    elif choices.event_log == "batched":
        event_log["config"]["base_dir"] = str(Path(home).resolve() / "history" / "runs")
        config["event_log_storage"] = event_log
    if choices.run_launcher == "stock":
        config.pop("run_launcher")
    return config


def install(home: Path, choices: InstanceChoices | None = None,
            postgres: PostgresAddress | None = None) -> dict:
    """Write the instance configuration into ``home``. With postgres storage: on ``postgres``
    when given, else on the deployment's own server (started if it is not running); its
    password goes into this process's environment, which the processes it starts inherit."""
    choices = choices or InstanceChoices.from_env()
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    if choices.storage == "postgres":
        postgres = postgres or LocalPostgres(postgres_folder(home)).start()
        os.environ[PASSWORD_ENV] = postgres.password
    config = instance_config(home, choices, postgres)
    (home / "dagster.yaml").write_text(
        f"# Written by `python platform/cli.py instance` from platform/dagster.yaml: {choices}\n"
        + yaml.safe_dump(config, sort_keys=False))
    return config


def use_password(home: Path) -> None:
    """Put the deployment's PostgreSQL password into this process's environment, when the
    instance in ``home`` has one: what opening the instance then needs."""
    password_file = LocalPostgres(postgres_folder(home)).password_file
    if password_file.exists() and PASSWORD_ENV not in os.environ:
        os.environ[PASSWORD_ENV] = password_file.read_text().strip()


def set_engine_pool_limit(instance) -> int:
    """ENGINE=spark: the limit of the pool its builds take (how many the cluster holds at once,
    spark/connection.py), kept in the instance as `dagster instance concurrency set` keeps it
    (the yaml sets only the default, 1, which the DuckDB file's single writer needs)."""
    limit = concurrent_builds_from_env()
    instance.event_log_storage.set_concurrency_slots(SPARK_POOL, limit)
    return limit
