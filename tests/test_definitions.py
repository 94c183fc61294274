"""The Definitions load with the expected assets, partitions, checks and guards."""

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from dagster import AssetKey, BackfillPolicy, TimeWindow

from assets.dbt import dbt_window_env
from assets.partitions import daily_partitions, window_days
from resources.settings import REPO_ROOT
from resources.warehouse import WAREHOUSE_POOL

DAILY = {"raw/flights", "raw/weather", "staging/stg_flights", "staging/stg_weather",
         "features/flight_features"}
REFERENCE = {"raw/planes", "raw/airports", "raw/airlines"}


def test_asset_keys_groups_and_partitions(definitions_module):
    graph = definitions_module.defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert DAILY | REFERENCE <= keys
    for name in DAILY:
        node = graph.get(AssetKey.from_user_string(name))
        assert node.partitions_def == daily_partitions, name
        assert node.backfill_policy == BackfillPolicy.single_run(), name
        assert node.group_name == name.split("/")[0], name
    for name in REFERENCE:
        assert graph.get(AssetKey.from_user_string(name)).partitions_def is None


def test_dbt_lineage_starts_at_raw(definitions_module):
    graph = definitions_module.defs.resolve_asset_graph()
    parents = lambda name: {k.to_user_string() for k in graph.get(AssetKey.from_user_string(name)).parent_keys}  # noqa: E731
    assert parents("staging/stg_flights") == {"raw/flights"}
    assert parents("staging/stg_weather") == {"raw/weather"}
    assert parents("features/flight_features") == {"staging/stg_flights", "staging/stg_weather"}


def test_dbt_tests_are_asset_checks(definitions_module):
    graph = definitions_module.defs.resolve_asset_graph()
    checks = {key.to_user_string() for key in graph.asset_check_keys}
    assert "features/flight_features:unique_flight_features_flight_id" in checks
    assert "staging/stg_flights:unique_stg_flights_flight_id" in checks
    assert any("relationships_stg_flights_carrier" in check for check in checks)


def test_every_warehouse_writer_is_in_the_duckdb_pool(definitions_module):
    repo = definitions_module.defs.get_repository_def()
    for assets_def in repo.assets_defs_by_key.values():
        if assets_def.is_executable:
            assert assets_def.op.pool == WAREHOUSE_POOL, assets_def.keys


def test_partition_window_to_days_and_dbt_vars():
    window = TimeWindow(datetime(2013, 3, 1), datetime(2013, 4, 1))
    first, last = window_days(window)
    assert (first, last) == (date(2013, 3, 1), date(2013, 3, 31))
    assert dbt_window_env(first, last, "/w.duckdb") == {
        "DBT_MIN_DATE": "2013-03-01", "DBT_MAX_DATE": "2013-03-31", "WAREHOUSE_PATH": "/w.duckdb"
    }


def test_the_code_location_loads_as_dagster_dev_loads_it_with_no_venv_on_path(tmp_path):
    """`dagster dev` re-parses the dbt project on load; it must find the dbt beside the
    interpreter, not whatever `dbt` is on PATH (here: none)."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "DAGSTER_IS_DEV_CLI": "1",
           "DAGSTER_HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
         "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "All code locations passed validation" in result.stdout + result.stderr
