"""The unit tier: core's rules, called directly. What keeps it that: no warehouse file is
opened here (an in-memory DuckDB is fine) and no Dagster instance is made. A test that needs
either belongs to tests/wiring or tests/e2e."""

import duckdb
import pytest
from dagster import DagsterInstance


@pytest.fixture(autouse=True)
def no_warehouse_file_and_no_instance(monkeypatch):
    connect = duckdb.connect

    def in_memory_only(database=":memory:", *args, **kwargs):
        if str(database) not in (":memory:", ""):
            raise AssertionError(f"a unit test opened the warehouse file {database}")
        return connect(database, *args, **kwargs)

    def refused(*args, **kwargs):
        raise AssertionError("a unit test made a Dagster instance")

    monkeypatch.setattr(duckdb, "connect", in_memory_only)
    for factory in ("get", "ephemeral", "from_config", "local_temp"):
        monkeypatch.setattr(DagsterInstance, factory, refused)
