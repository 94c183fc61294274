"""The scale-out path (deploy/, docs/scaling.md), validated without a cluster.

There is no Kubernetes, Helm or Trino here, so each piece is checked against what would read it:
the instance yaml against Dagster's own config schemas (with dagster-k8s and dagster-postgres
installed), the Helm values against that instance, the Dockerfile and the code, and the dbt
project by compiling it for Trino with no connection and parsing the result as Trino SQL.
"""

import copy
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.storage.config import pg_config
from dagster._serdes.config_class import class_from_code_pointer

from assets.monitor.indicators import SERVICE_LEVELS
from resources.settings import REPO_ROOT, Settings
from resources.warehouse import WAREHOUSE_POOL

DEPLOY = REPO_ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def instance_yaml() -> dict:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


@pytest.fixture(scope="module")
def user_deployment(values) -> dict:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def _assert_valid(config_type, config, where: str) -> None:
    result = validate_config(config_type, config)
    assert result.success, f"{where}: " + "; ".join(e.message for e in result.errors)


def test_instance_yaml_passes_dagsters_schemas(instance_yaml):
    # The instance as a whole: sections, concurrency rules, storage shape.
    config, _ = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    assert "postgres" in config["storage"]
    _assert_valid(pg_config(), instance_yaml["storage"]["postgres"], "storage.postgres")
    # Each pluggable class against its own schema: this imports dagster_k8s's launcher, so a
    # misspelt module, class or field fails here as it would in the daemon.
    for section in ("run_launcher", "run_coordinator", "scheduler"):
        data = instance_yaml[section]
        cls = class_from_code_pointer(data["module"], data["class"])
        _assert_valid(cls.config_type(), data.get("config") or {}, section)


def test_instance_yaml_keeps_credentials_in_the_environment(instance_yaml):
    postgres = instance_yaml["storage"]["postgres"]["postgres_db"]
    # The one variable the chart gives every Dagster pod and the run launcher every run pod.
    assert postgres["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    for name in ("dagster.yaml", "helm/values.yaml"):
        text = (DEPLOY / name).read_text()
        inline = re.findall(r"(?im)^\s*\w*password:[ \t]*(\S*)", text)
        assert inline and set(inline) <= {"", '""'}, f"{name}: a password written inline"



def test_helm_values_render_the_same_instance(values, instance_yaml):
    launcher = values["runLauncher"]
    assert launcher["type"] == instance_yaml["run_launcher"]["class"] == "K8sRunLauncher"
    k8s = launcher["config"]["k8sRunLauncher"]
    run_config = instance_yaml["run_launcher"]["config"]
    assert k8s["volumes"] == run_config["volumes"]
    assert k8s["volumeMounts"] == run_config["volume_mounts"]
    assert [s["name"] for s in k8s["envSecrets"]] == run_config["env_secrets"]
    assert k8s["runK8sConfig"]["containerConfig"] == run_config["run_k8s_config"]["container_config"]

    pools, local_pools = values["concurrency"]["pools"], instance_yaml["concurrency"]["pools"]
    assert values["concurrency"]["enabled"] is True
    assert pools == {
        "defaultLimit": local_pools["default_limit"],
        "granularity": local_pools["granularity"],
        "opGranularityRunBuffer": local_pools["op_granularity_run_buffer"],
    }
    assert (values["concurrency"]["runs"]["maxConcurrentRuns"]
            == instance_yaml["concurrency"]["runs"]["max_concurrent_runs"])
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] == instance_yaml["run_monitoring"]["enabled"]
    retries, local_retries = values["dagsterDaemon"]["runRetries"], instance_yaml["run_retries"]
    assert (retries["enabled"], retries["maxRetries"], retries["retryOnAssetOrOpFailure"]) == (
        local_retries["enabled"], local_retries["max_retries"],
        local_retries["retry_on_asset_or_op_failure"])
    postgres, chart = instance_yaml["storage"]["postgres"]["postgres_db"], values["postgresql"]
    assert (postgres["hostname"], postgres["port"], postgres["db_name"], postgres["username"],
            postgres["scheme"]) == (chart["postgresqlHost"], chart["service"]["port"],
                                    chart["postgresqlDatabase"], chart["postgresqlUsername"],
                                    chart["postgresqlScheme"])
    batch = "DAGSTER_EVENT_BATCH_SIZE=1000"
    assert batch in k8s["envVars"] and batch in run_config["env_vars"]


def test_the_warehouse_keeps_one_writer_on_the_cluster(instance_yaml, repo_defs):
    # The DuckDB file still has a single writer: the pool every warehouse step uses has the
    # limit 1 there too (its default, as no asset's pool has a limit set elsewhere).
    assert instance_yaml["concurrency"]["pools"]["default_limit"] == 1
    local = yaml.safe_load((REPO_ROOT / "platform" / "dagster.yaml").read_text())
    assert local["concurrency"]["pools"]["default_limit"] == 1
    steps = repo_defs.resolve_asset_graph().assets_defs
    # (the service levels read the instance alone, not the warehouse)
    assert {step.node_def.pool for step in steps if step.is_executable
            and SERVICE_LEVELS not in step.keys} == {WAREHOUSE_POOL}


def test_code_server_runs_the_file_workspace_yaml_loads(user_deployment):
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    local_file = workspace["load_from"][0]["python_file"]["relative_path"]
    args = user_deployment["codeServerArgs"]
    assert args[args.index("--python-file") + 1] == local_file
    assert (REPO_ROOT / local_file).is_file()


def test_helm_env_names_are_the_settings_the_code_reads(user_deployment, monkeypatch):
    env = {item["name"]: item["value"] for item in user_deployment["env"]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert settings.data_dir == Path(env["PLATFORM_DATA_DIR"])
    assert settings.warehouse_path == Path(env["WAREHOUSE_PATH"])
    assert settings.landing_dir == Path(env["LANDING_DIR"])
    assert settings.model_store_dir == Path(env["MODEL_STORE_DIR"])
    profiles = (REPO_ROOT / "dbt_project" / "profiles.yml").read_text()
    assert "env_var('DBT_TARGET'" in profiles
    assert env["DBT_TARGET"] in yaml.safe_load(profiles)["flight_delays"]["outputs"]
    # Runs and the code server see the same files.
    mounts = {m["mountPath"] for m in user_deployment["volumeMounts"]}
    assert any(settings.data_dir.is_relative_to(m) for m in mounts)
    assert {v["name"] for v in user_deployment["volumes"]} == {
        m["name"] for m in user_deployment["volumeMounts"]}


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_dockerfile_builds_what_the_chart_runs(user_deployment):
    instructions = _dockerfile_instructions()
    base = next(arg for op, arg in instructions if op == "FROM")
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    python = re.search(r'requires-python = ">=(\d+\.\d+)', pyproject).group(1)
    assert base.startswith(f"python:{python}")

    workdir = next(arg for op, arg in instructions if op == "WORKDIR")
    codeserver_args = user_deployment["codeServerArgs"]
    assert codeserver_args[codeserver_args.index("--working-directory") + 1] == workdir

    copied = [arg.split()[:-1] for op, arg in instructions if op == "COPY"]
    sources = {src.rstrip("/") for srcs in copied for src in srcs}
    for src in sources:
        assert (REPO_ROOT / src).exists(), f"COPY {src}: not in the repository"
    # Everything the code server imports or reads: the packages pyproject declares, the
    # composition root and the dbt project.
    packages = re.search(r"include = \[(.*?)\]", pyproject).group(1)
    needed = {p.strip(' "*') for p in packages.split(",")} | {"platform", "dbt_project"}
    assert needed <= sources

    installs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert '".[k8s,trino]"' in installs and "dbt parse" in installs
    assert ("EXPOSE", str(user_deployment["port"])) in instructions

    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for generated in (".venv", "data", ".dagster_home", "dbt_project/target"):
        assert generated in ignored


def test_extras_install_what_the_instance_names(instance_yaml):
    optional = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    k8s, postgres = " ".join(optional["k8s"]), " ".join(optional["postgres"])
    assert "dagster-k8s" in k8s and "flightdelay-platform[postgres]" in k8s
    assert "dagster-postgres" in postgres and "psycopg2" in postgres
    assert instance_yaml["run_launcher"]["module"].replace("_", "-") in k8s


# DuckDB spellings with a portable form (dbt's cross-database macros, ANSI SQL, or the
# dispatched macros in dbt_project/macros/portable.sql).
DUCKDB_ONLY = [r"\bstrftime\s*\(", r"\bisodow\b", r"group by all", r"filter\s*\(\s*where",
               r"interval\s+\d+\s+day", r"::"]


@pytest.fixture(scope="module")
def trino_compiled(tmp_path_factory) -> Path:
    """dbt compile for the trino target, offline: no cache, no introspective queries."""
    target = tmp_path_factory.mktemp("trino-target")
    result = subprocess.run(
        [str(VENV_BIN / "dbt"), "compile", "--no-populate-cache", "--no-introspect",
         "--target-path", str(target), "--select", "staging", "labels", "features"],
        cwd=REPO_ROOT / "dbt_project", capture_output=True, text=True, timeout=300,
        env={**os.environ, "DBT_TARGET": "trino", "TRINO_HOST": "trino.invalid"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return target / "compiled" / "flight_delays" / "models"


def test_models_compile_for_trino_in_portable_sql(trino_compiled):
    models = sorted(trino_compiled.glob("*/*.sql"))
    assert {m.stem for m in models} == {"stg_schedule", "stg_outcomes", "stg_weather",
                                        "stg_planes", "flight_labels", "weather_at_departure",
                                        "flight_features"}
    for model in models:
        sql = model.read_text().lower()
        for pattern in DUCKDB_ONLY:
            assert not re.search(pattern, sql), f"{model.name}: DuckDB-only {pattern!r}"
    features = (trino_compiled / "features" / "flight_features.sql").read_text()
    assert "day_of_week(scheduled.flight_date)" in features  # the dispatched trino__ macro
    assert "max_by(" in features and "arg_max" not in features  # the last observation
    assert 'from "lakehouse"."staging"."stg_schedule"' in features  # catalog.schema.table


def test_trino_sql_parses_in_the_trino_dialect(trino_compiled, tmp_path):
    # sqlfluff's Trino grammar, on the compiled SQL as is (raw templater): a construct Trino
    # does not have fails to parse here.
    config = tmp_path / ".sqlfluff"
    config.write_text("[sqlfluff]\ndialect = trino\ntemplater = raw\n")
    for model in sorted(trino_compiled.glob("*/*.sql")):
        result = subprocess.run(
            [str(VENV_BIN / "sqlfluff"), "parse", "--config", str(config), str(model)],
            capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, f"{model.name}:\n" + result.stdout[-3000:]
        assert "select_statement:" in result.stdout


def test_scaling_doc_names_the_files_it_describes():
    doc = (REPO_ROOT / "docs" / "scaling.md").read_text()
    for path in ("deploy/helm/values.yaml", "deploy/dagster.yaml", "deploy/Dockerfile",
                 "DBT_TARGET=trino", "resources/warehouse.py"):
        assert path in doc
        if "/" in path and "=" not in path:
            assert (REPO_ROOT / path).exists()


def test_the_cluster_instance_connects_to_postgresql(instance_yaml, postgres_database, tmp_path,
                                                    monkeypatch):
    """deploy/dagster.yaml as it is, pointed at a real PostgreSQL (only the server's address
    changed): its storage opens with the psycopg2 scheme and the one variable the chart
    provides, and a run, its events and a pool slot claim are stored and read back."""
    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    config = copy.deepcopy(instance_yaml)
    db = config["storage"]["postgres"]["postgres_db"]
    db.update(hostname=postgres_database.host, port=postgres_database.port,
              db_name=postgres_database.database, username=postgres_database.username)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", postgres_database.password)
    instance = DagsterInstance.from_config(str(tmp_path))
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"

    run = instance.add_run(DagsterRun(job_name="probe", run_id="0" * 31 + "1",
                                      status=DagsterRunStatus.NOT_STARTED))
    instance.report_engine_event("stored on PostgreSQL", run)
    assert instance.get_run_by_id(run.run_id).job_name == "probe"
    assert [e.message for e in instance.all_logs(run.run_id)] == ["stored on PostgreSQL"]
    instance.event_log_storage.set_concurrency_slots("duckdb", 1)
    claim = instance.event_log_storage.claim_concurrency_slot("duckdb", run.run_id, "step")
    assert claim.is_claimed
    second = instance.event_log_storage.claim_concurrency_slot("duckdb", run.run_id, "other")
    assert not second.is_claimed  # the pool's one slot, held in a PostgreSQL transaction
