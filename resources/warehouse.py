"""The DuckDB warehouse: the one path through which Dagster code reads and writes the file.

DuckDB allows one process at a time to hold a file open for writing; another process that
tries fails at once with "Could not set lock on file". Two layers keep overlapping runs apart:

- every asset that touches the file runs in the ``duckdb`` concurrency pool (limit 1, see
  platform/dagster.yaml), so the UI shows queued steps waiting for the slot;
- every connection is opened under an OS file lock (``<warehouse>.lock``), held by one process
  at a time and waited for, so the file is never contended even where the pool lets two steps
  through (Dagster's SQLite storage can hand one slot to two processes claiming it at the same
  instant) or for work outside a run (sensors, the CLI's summaries).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
from dagster import Backoff, ConfigurableResource, Jitter, RetryPolicy

from core.tables import table_exists, tables_in
from resources.settings import Settings

WAREHOUSE_POOL = "duckdb"
# Transient trouble (the file held too long elsewhere, an I/O error) is retried with backoff.
# Bad data is raised as Failure(allow_retries=False), which no retry would fix.
WAREHOUSE_RETRY = RetryPolicy(
    max_retries=3, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


class WarehouseBusy(TimeoutError):
    """Another process kept the warehouse longer than this one was willing to wait."""


class _ProcessFileLock:
    """An exclusive lock between processes (flock) that is re-entrant within one process.

    Re-entrant because one step may hold the file for a child process (dbt) and read it itself
    in between; flock alone would deadlock on the second acquisition in the same process.
    """

    _by_path: dict[str, _ProcessFileLock] = {}
    _registry_guard = threading.Lock()

    def __init__(self, path: str):
        self.path = path
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @classmethod
    def for_path(cls, path: str) -> _ProcessFileLock:
        with cls._registry_guard:
            return cls._by_path.setdefault(path, cls(path))

    @contextmanager
    def held(self, wait_seconds: float) -> Iterator[None]:
        deadline = time.monotonic() + wait_seconds
        if not self._threads.acquire(timeout=max(wait_seconds, 0)):
            raise WarehouseBusy(f"{self.path}: still held by another thread after {wait_seconds}s")
        try:
            if self._depth == 0:
                self._fd = self._acquire_flock(deadline, wait_seconds)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None
        finally:
            self._threads.release()

    def _acquire_flock(self, deadline: float, wait_seconds: float) -> int:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise WarehouseBusy(
                        f"{self.path}: another process has held the warehouse for more than"
                        f" {wait_seconds:.0f}s"
                    ) from None
                time.sleep(0.1)


class DuckDBWarehouse(ConfigurableResource):
    """A DuckDB database file. ``transaction()`` is the way to write.

    With ENGINE=spark the raw, label and feature tables are Parquet in ``lake_dir`` (written by
    the ingest and by dbt on Spark) and the file shows each as a view of the same name, so that
    every reader's SQL is the same on both engines; the file keeps what the Python side owns
    (the ingest log, the registry, predictions, monitoring)."""

    path: str
    lake_dir: str | None = None
    # How long to wait for another process's use of the file before giving up (WarehouseBusy).
    lock_wait_seconds: float = 900.0

    @classmethod
    def of(cls, settings: Settings) -> DuckDBWarehouse:
        """The deployment's warehouse, as its settings say (the engine's lake included)."""
        return cls(path=str(settings.warehouse_path),
                   lake_dir=str(settings.spark.lake_dir) if settings.spark else None,
                   lock_wait_seconds=settings.warehouse_lock_wait_seconds)

    @contextmanager
    def exclusive_access(self, wait_seconds: float | None = None) -> Iterator[None]:
        """Hold the warehouse for this process, e.g. while a child process (dbt) writes it."""
        lock = _ProcessFileLock.for_path(str(Path(self.path).resolve()) + ".lock")
        with lock.held(self.lock_wait_seconds if wait_seconds is None else wait_seconds):
            yield

    @contextmanager
    def connect(
        self, read_only: bool = False, wait_seconds: float | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.exclusive_access(wait_seconds):
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

    def copy_as_of(self, destination: Path, last_days: Mapping[str, date],
                   whole: Sequence[str] = (), schema: str = "raw") -> None:
        """A new warehouse file at ``destination`` holding the tables of ``schema`` as they
        stood: each table of ``last_days`` up to its day (partition_date), the tables of
        ``whole`` as they are. What existed at a moment, for a rebuild as of it."""
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.unlink(missing_ok=True)
        source = str(Path(self.path).resolve()).replace("'", "''")
        with self.exclusive_access():
            con = duckdb.connect(str(destination))
            try:
                con.execute(f"attach '{source}' as warehouse_now (read_only)")
                present = tables_in(con, schema, catalog="warehouse_now")
                con.execute(f"create schema {schema}")
                for table in [t for t in (*last_days, *whole) if t in present]:
                    until = " where partition_date <= ?" if table in last_days else ""
                    con.execute(f"create table {schema}.{table} as select *"
                                f" from warehouse_now.{schema}.{table}{until}",
                                [last_days[table]] if table in last_days else [])
                con.execute("detach warehouse_now")
            finally:
                con.close()

    def table_exists(self, qualified: str, wait_seconds: float | None = None) -> bool:
        """Whether ``schema.table`` exists (False before the warehouse file does)."""
        if not Path(self.path).exists():
            return False
        with self.connect(read_only=True, wait_seconds=wait_seconds) as connection:
            return table_exists(connection, qualified)
