"""Faults injected on purpose, shared by the tests and `make chaos` (platform/chaos.py).

Run as a script, this is the victim of the crash test: a real Dagster run of raw/flights for
one day that stops in the middle of its partition write (rows deleted and re-inserted, not yet
committed), says so on stdout, and waits to be killed with SIGKILL:

    python -m tests.faults <dagster_home> <data_dir> <day>
"""

import sys
import time
from contextlib import contextmanager
from pathlib import Path

MID_WRITE = "MID-WRITE"


class _PausingConnection:
    """A DuckDB connection that stops for good right after the raw insert has executed."""

    def __init__(self, connection):
        self._connection = connection

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def execute(self, sql, *args):
        result = self._connection.execute(sql, *args)
        if sql.lstrip().startswith("insert into raw.flights"):
            print(MID_WRITE, flush=True)
            time.sleep(3600)
        return result


def run_until_killed(dagster_home: str, data_dir: str, day: str) -> None:
    from dagster import AssetKey, DagsterInstance

    from resources.warehouse import DuckDBWarehouse
    from tests.conftest import load_platform_module, make_settings

    original = DuckDBWarehouse.transaction

    @contextmanager
    def pausing_transaction(self):
        with original(self) as connection:
            yield _PausingConnection(connection)

    DuckDBWarehouse.transaction = pausing_transaction
    settings = make_settings(Path(data_dir).parent)
    defs = load_platform_module("definitions").build_definitions(settings)
    cli = load_platform_module("cli")
    instance = DagsterInstance.from_config(dagster_home)
    cli.execute(defs, instance, [AssetKey(["raw", "flights"])], partition_key=day)


if __name__ == "__main__":
    run_until_killed(*sys.argv[1:4])
