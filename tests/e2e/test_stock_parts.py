"""Dagster's and dagster-dbt's stock parts give what the speed-ups of internals/ give.

A deployment on Dagster's own SQLite event log and dagster-dbt's `dbt build` subprocess
(Platform(stock=True), as `make ui STOCK=1` runs) builds the shared window (Jan 1 .. Feb 12)
into the same tables, partitions and check results as the default deployment, trains the same
model version from them, and runs the day-ahead loop: so an upgrade that breaks an internal
costs speed, never function. (Dagster's default run launcher under the real daemon:
tests/e2e/test_concurrency.py.)
"""

from datetime import date

import pytest

from assets.keys import ModelKeys
from core.ingest.upstream import deliver_days, land_days
from core.tables import tables_in
from tests.conftest import CLASSIFIER, SHARED_FIRST, SHARED_LAST
from tools import ticks
from tools.sandbox import SMALL_WINDOW, Platform

MODEL = ModelKeys(CLASSIFIER)
DBT_SCHEMAS = ("staging", "labels", "features")


@pytest.fixture(scope="module")
def stock_platform(tmp_path_factory, definitions_module, runner):
    platform = Platform(tmp_path_factory.mktemp("stock"), definitions_module, runner, stock=True)
    platform.land(SHARED_FIRST, SHARED_LAST)
    platform.outcome = platform.materialize(SHARED_FIRST, SHARED_LAST)
    return platform


def dbt_tables(platform) -> dict[str, list[tuple]]:
    with platform.warehouse.connect(read_only=True) as con:
        names = [f"{schema}.{table}" for schema in DBT_SCHEMAS for table in tables_in(con, schema)]
        return {name: con.execute(f"select * from {name} order by all").fetchall()
                for name in names}


def check_results(platform) -> dict[str, bool]:
    graph = platform.defs.get_repository_def().asset_graph
    results = {}
    for check in graph.asset_check_keys:
        record = platform.instance.get_latest_asset_check_evaluation_record(check)
        if record is not None and record.event and record.event.dagster_event:
            evaluation = record.event.dagster_event.event_specific_data
            results[check.to_user_string()] = evaluation.passed
    return results


def test_the_stock_parts_build_the_same_window(stock_platform, built_platform):
    assert "internals" not in type(stock_platform.instance.event_log_storage).__module__
    assert all(stock_platform.outcome.values())
    assert stock_platform.outcome.keys() == built_platform.outcome.keys()

    stock_tables, tables = dbt_tables(stock_platform), dbt_tables(built_platform)
    assert stock_tables.keys() == tables.keys() and "features.flight_features" in tables
    for name, rows in tables.items():
        assert stock_tables[name] == rows, name
    for key in built_platform.outcome:
        assert (stock_platform.instance.get_materialized_partitions(key)
                == built_platform.instance.get_materialized_partitions(key)), key
    checks = check_results(built_platform)
    assert checks and check_results(stock_platform) == checks


def trained_version(platform) -> str:
    assert platform.train("2013-02-03", models=[MODEL]).success
    event = platform.instance.get_latest_materialization_event(MODEL.model)
    return event.asset_materialization.metadata["version"].value


def test_the_day_ahead_loop_runs_on_the_stock_parts(stock_platform, built_platform, tmp_path):
    """The same training rows give the same model version; a landed day is served."""
    default = built_platform.clone(tmp_path / "default", SMALL_WINDOW)
    stock = stock_platform.clone(tmp_path / "stock", SMALL_WINDOW)
    assert trained_version(stock) == trained_version(default)
    assert stock.promote([MODEL]).success

    landing, day = stock.settings.landing_dir, date(2013, 2, 13)
    _, cursor = ticks.tick_new_data(stock.defs, stock.instance, landing, None,
                                    stock.settings.warehouse_path)
    land_days(landing, day, day, datasets=("schedule",))
    requests, cursor = ticks.tick_new_data(stock.defs, stock.instance, landing, cursor)
    assert ticks.execute_requests(stock, requests)
    deliver_days(landing, day, day)  # Feb 13 flies: its outcomes, and Feb 14's schedule
    requests, _ = ticks.tick_new_data(stock.defs, stock.instance, landing, cursor)
    assert ticks.execute_requests(stock, requests)
    served = stock.query("select flight_date, count(*) from ml.not_on_time_predictions"
                         " group by 1 order by 1")
    assert [str(day) for day, _ in served] == ["2013-02-13", "2013-02-14"]
    assert all(flights > 500 for _, flights in served)
