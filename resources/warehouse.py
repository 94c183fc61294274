"""The DuckDB warehouse: the one path through which Dagster code reads and writes the file.

DuckDB allows one writing process per file, so every asset that writes here runs in the
``duckdb`` concurrency pool (limit 1, see platform/dagster.yaml): overlapping runs queue
instead of failing with "Could not set lock on file".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

WAREHOUSE_POOL = "duckdb"


class DuckDBWarehouse(ConfigurableResource):
    """A DuckDB database file. ``transaction()`` is the way to write."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(self.path, read_only=read_only)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: commit when the block ends, roll back if it raises."""
        with self.connect() as connection:
            connection.begin()
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def table_exists(self, schema: str, table: str) -> bool:
        if not Path(self.path).exists():
            return False
        with self.connect(read_only=True) as connection:
            return bool(
                connection.execute(
                    "select count(*) from information_schema.tables"
                    " where table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchone()[0]
            )
