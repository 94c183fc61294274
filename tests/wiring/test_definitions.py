"""The Definitions load with the expected assets, partitions, checks and guards."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from dagster import AssetKey, BackfillPolicy, TimeWindow

from assets.monitor.indicators import SERVICE_LEVELS
from assets.partitions import daily_partitions, weekly_partitions, window_days
from assets.transform.dbt import dbt_window_env
from core.train.model_spec import SpecError
from resources.dbt import build_dbt_project, manifest_is_stale
from resources.settings import REPO_ROOT, Settings
from resources.warehouse import WAREHOUSE_POOL
from tools.sandbox import make_settings

MODELS = ("arrival_delay", "not_on_time")  # model_specs/*.yaml
DAILY = {"raw/schedule", "raw/outcomes", "raw/weather", "staging/stg_schedule",
         "staging/stg_outcomes", "staging/stg_weather", "labels/flight_labels",
         "labels/weather_at_departure", "features/flight_features",
         *(f"ml/{model}/{asset}" for model in MODELS
           for asset in ("predictions", "shadow_predictions")),
         *(f"monitoring/{model}/{asset}" for model in MODELS
           for asset in ("realized_performance", "drift_report"))}
WEEKLY = {f"ml/{model}/{asset}" for model in MODELS
          for asset in ("training_set", "model", "evaluation")}
REFERENCE = {"raw/planes", "raw/airports", "raw/airlines", "staging/stg_planes"}


def test_asset_keys_groups_and_partitions(repo_defs):
    graph = repo_defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert DAILY | REFERENCE <= keys
    for name in DAILY:
        node = graph.get(AssetKey.from_user_string(name))
        assert node.partitions_def == daily_partitions, name
        assert node.backfill_policy == BackfillPolicy.single_run(), name
        assert node.group_name == name.split("/")[0], name
    for name in REFERENCE:
        assert graph.get(AssetKey.from_user_string(name)).partitions_def is None
    assert WEEKLY <= keys
    for name in WEEKLY:
        assert graph.get(AssetKey.from_user_string(name)).partitions_def == weekly_partitions


def test_each_model_spec_becomes_its_chain_with_its_checks_jobs_and_sensors(repo_defs):
    defs = repo_defs
    graph = defs.resolve_asset_graph()

    def parents(name):
        return {k.to_user_string() for k in graph.get(AssetKey.from_user_string(name)).parent_keys}

    checks = {key.to_user_string() for key in graph.asset_check_keys}
    for model in MODELS:
        ml = f"ml/{model}"
        assert parents(f"{ml}/model") == {f"{ml}/training_set"}
        assert parents(f"{ml}/evaluation") == {f"{ml}/model", f"{ml}/training_set"}
        # The gate judges again as labels mature.
        assert parents(f"{ml}/champion") == {f"{ml}/evaluation", "labels/flight_labels"}
        assert parents(f"{ml}/shadow_predictions") == {"features/flight_features",
                                                       f"{ml}/champion"}
        assert {f"{ml}/model:onnx_matches_sklearn", f"{ml}/model:quality_floor"} <= checks
        assert defs.resolve_job_def(f"retrain_{model}") is not None
        assert defs.resolve_job_def(f"review_{model}") is not None
        assert defs.resolve_sensor_def(f"retrain_on_evidence_{model}").job_name == f"retrain_{model}"
        assert defs.resolve_sensor_def(f"serve_new_champion_{model}") is not None
    # retraining follows evidence, not the calendar: the schedules probe and measure
    assert {s.job_name for s in defs.schedules} == {"service_levels", "reproducibility"}


def test_lineage_follows_what_is_known_when(repo_defs):
    graph = repo_defs.resolve_asset_graph()

    def parents(name):
        return {k.to_user_string() for k in graph.get(AssetKey.from_user_string(name)).parent_keys}

    assert parents("staging/stg_schedule") == {"raw/schedule"}
    assert parents("staging/stg_outcomes") == {"raw/outcomes"}
    assert parents("labels/flight_labels") == {"staging/stg_schedule", "staging/stg_outcomes"}
    assert parents("features/flight_features") == {
        "staging/stg_schedule", "staging/stg_weather", "staging/stg_planes",
        "labels/flight_labels"}
    for model in MODELS:
        assert parents(f"ml/{model}/predictions") == {"features/flight_features",
                                                      f"ml/{model}/champion"}
        assert parents(f"monitoring/{model}/realized_performance") == {
            f"ml/{model}/predictions", "labels/flight_labels"}


def test_day_d_of_the_features_is_made_of_earlier_days_of_labels_and_weather(repo_defs):
    """The partition mappings declared in the feature model's YAML (meta days_read)."""
    graph = repo_defs.resolve_asset_graph()
    features = AssetKey(["features", "flight_features"])

    def days_read(parent):
        mapping = graph.get_partition_mapping(features, AssetKey.from_user_string(parent))
        subset = daily_partitions.empty_subset().with_partition_keys(["2013-03-01"])
        upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
            subset, daily_partitions, daily_partitions).partitions_subset
        return sorted(upstream.get_partition_keys())

    assert days_read("labels/flight_labels") == [
        f"2013-02-{day:02d}" for day in range(1, 29)]  # 28 days, up to the day before
    assert days_read("staging/stg_weather") == ["2013-02-28"]
    assert days_read("staging/stg_schedule") == ["2013-03-01"]


def test_dbt_tests_are_asset_checks(repo_defs):
    graph = repo_defs.resolve_asset_graph()
    checks = {key.to_user_string() for key in graph.asset_check_keys}
    assert "features/flight_features:unique_flight_features_flight_id" in checks
    assert "staging/stg_schedule:unique_stg_schedule_flight_id" in checks
    assert "labels/flight_labels:unique_flight_labels_flight_id" in checks
    assert any("relationships_stg_schedule_carrier" in check for check in checks)


def test_every_warehouse_writer_is_in_the_duckdb_pool(repo_defs):
    repo = repo_defs.get_repository_def()
    for assets_def in repo.assets_defs_by_key.values():
        # the service levels read the instance alone: they must not wait on the warehouse
        if assets_def.is_executable and SERVICE_LEVELS not in assets_def.keys:
            assert assets_def.op.pool == WAREHOUSE_POOL, assets_def.keys
    for model in MODELS:  # the operator's decisions write the registry too
        review = repo.get_job(f"review_{model}")
        assert {node.definition.pool for node in review.graph.node_dict.values()} == {
            WAREHOUSE_POOL}


def test_partition_window_to_days_and_dbt_vars():
    window = TimeWindow(datetime(2013, 3, 1), datetime(2013, 4, 1))
    first, last = window_days(window)
    assert (first, last) == (date(2013, 3, 1), date(2013, 3, 31))
    assert dbt_window_env(first, last, "/w.duckdb") == {
        "DBT_MIN_DATE": "2013-03-01", "DBT_MAX_DATE": "2013-03-31", "WAREHOUSE_PATH": "/w.duckdb"
    }


def test_the_code_location_loads_as_dagster_dev_loads_it_with_no_venv_on_path(tmp_path):
    """The code location loads as `dagster dev` loads it, with no `dbt` on PATH (a changed dbt
    project is then re-parsed with the dbt beside the interpreter: the test below)."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "DAGSTER_IS_DEV_CLI": "1",
           "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_the_partitions_span_the_history_the_deployment_is_given(tmp_path):
    """HISTORY_YEARS=10 (make ... YEARS=10): every daily asset has the ten years' days, every
    weekly one their cutoffs, as the code location loads them."""
    script = (
        "import json, definitions\n"
        "graph = definitions.defs().resolve_asset_graph()\n"
        "print(json.dumps({key.to_user_string(): len(graph.get(key).partitions_def"
        ".get_partition_keys()) for key in graph.materializable_asset_keys"
        " if graph.get(key).partitions_def}))\n")
    env = {**os.environ, "HISTORY_YEARS": "10", "PLATFORM_DATA_DIR": str(tmp_path),
           "WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb")}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout.splitlines()[-1])
    assert {counts[name] for name in DAILY} == {365 + 9 * 364}
    assert {counts[name] for name in WEEKLY} == {len(weekly_partitions.get_partition_keys()) + 468}


def test_a_manifest_is_stale_when_a_model_or_yaml_is_newer_but_not_for_dbts_own_output(tmp_path):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    model, manifest = project / "models" / "a.sql", project / "target" / "manifest.json"
    assert manifest_is_stale(project, manifest)  # none yet
    model.write_text("select 1")
    manifest.write_text("{}")
    _age(model, 60)
    assert not manifest_is_stale(project, manifest)
    (project / "target" / "compiled.sql").write_text("select 1")  # dbt's output, not a source
    (project / "logs").mkdir()
    (project / "logs" / "x.yml").write_text("")
    assert not manifest_is_stale(project, manifest)
    _age(manifest, 120)
    assert manifest_is_stale(project, manifest)


def test_dagster_dev_parses_the_dbt_project_only_when_it_changed(tmp_path, monkeypatch):
    """Every run's process loads the definitions; under `dagster dev` (DAGSTER_IS_DEV_CLI) only
    a changed project is re-parsed, with the dbt beside the interpreter (none on PATH)."""
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO_ROOT / "dbt_project", project,
                    ignore=shutil.ignore_patterns("logs", ".user.yml"))
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    manifest, dbt = project / "target" / "manifest.json", Settings.from_env().dbt_executable
    for path in project.rglob("*"):  # as the Makefile leaves it: parsed after its last edit
        _age(path, 7200 if "target" not in path.parts else 3600)
    unchanged = manifest.stat().st_mtime_ns
    build_dbt_project(project, dbt)
    assert manifest.stat().st_mtime_ns == unchanged

    _age(project / "models" / "features" / "flight_features.sql", 0)  # an analyst's edit
    assert manifest_is_stale(project, manifest)
    build_dbt_project(project, dbt)
    assert not manifest_is_stale(project, manifest)


def _age(path: Path, seconds: float) -> None:
    """Set the file's modification time ``seconds`` into the past."""
    at = time.time() - seconds
    os.utime(path, (at, at))


def test_the_ui_shows_each_dbt_models_columns_with_types_and_descriptions(repo_defs):
    """dagster-dbt's column schema from the manifest: the Columns tab of each dbt asset."""
    graph = repo_defs.resolve_asset_graph()
    schema = graph.get(AssetKey(["features", "flight_features"])).metadata["dagster/column_schema"]
    columns = {column.name: column for column in schema.columns}
    assert columns["carrier"].type == "varchar"
    assert columns["carrier"].description == "The airline's two-character code."
    assert "temp_last" in columns and len(columns) > 30


def test_a_bad_spec_stops_the_definitions_from_loading(tmp_path, definitions_module):
    specs = tmp_path / "model_specs"
    shutil.copytree(REPO_ROOT / "model_specs", specs)
    spec = specs / "not_on_time.yaml"
    spec.write_text(spec.read_text().replace("class: HistGradientBoostingClassifier",
                                             "class: KNeighborsClassifier"))
    settings = make_settings(tmp_path, model_specs_dir=specs)
    with pytest.raises(SpecError, match="not_on_time.yaml: estimator.class: 'KNeighborsCl"):
        definitions_module.build_definitions(settings)




def test_make_run_refuses_a_cutoff_not_before_its_end_and_names_one_that_works(
        cli, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path))
    assert cli.main(["run", "--end", "2013-03-31"]) == 2  # the default cutoff is in September
    said = capsys.readouterr().out
    assert "--cutoff 2013-09-29 is not before --end 2013-03-31" in said
    assert "CUTOFF=2013-03-17" in said
    assert not any(tmp_path.iterdir())  # refused before landing anything
