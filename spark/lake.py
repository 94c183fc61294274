"""The lake: the warehouse's tables as Parquet folders, each partitioned by day, which Spark
(and any engine that reads Parquet) queries in place.

``<lake>/raw/<table>/partition_date=<day>/part-0.parquet`` holds one day of a daily feed, as the
platform's ingest wrote it with ENGINE=spark (assets/ingest/raw.py: the same landing contract,
delivery rules and checks as into the DuckDB file); the reference tables are one file each.
What dbt builds on Spark lives beside them, in ``<lake>/<schema>.db/`` (Spark's warehouse
directory).

A day is replaced whole: its new file is written in full under a hidden staging folder (which
Spark and DuckDB skip) and only then swapped in, so a write that fails leaves the day as it was,
and writing a day twice gives the same partition.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.ingest.upstream import reference_table_query

RAW_SCHEMA = "raw"
DAY_COLUMN = "partition_date"
PART_FILE = "part-0.parquet"


def table_dir(lake: Path, table: str, schema: str = RAW_SCHEMA) -> Path:
    return Path(lake) / schema / table


def day_dir(folder: Path, day: date) -> Path:
    return Path(folder) / f"{DAY_COLUMN}={day.isoformat()}"


class DaysWrite:
    """Days of one table written in full under a hidden staging folder, then swapped in by
    ``publish()``: until then (and if it never comes) the table's days are as they were."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.staging = self.folder / f".staging-{uuid.uuid4().hex}"
        self.counts: dict[date, int] = {}

    def __enter__(self) -> DaysWrite:
        self.staging.mkdir(parents=True)
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def add(self, rows: pa.Table, days: Sequence[date]) -> dict[date, int]:
        """Stage each of ``days`` as exactly its rows of ``rows`` (which carry partition_date);
        a day without rows will have no partition (a header-only delivery)."""
        day_values = rows.column(DAY_COLUMN)
        for day in days:
            of_day = rows.filter(pc.equal(day_values, pa.scalar(day, pa.date32())))
            self.counts[day] = of_day.num_rows
            if of_day.num_rows:
                day_dir(self.staging, day).mkdir()
                pq.write_table(of_day.drop_columns([DAY_COLUMN]),
                               day_dir(self.staging, day) / PART_FILE)
        return {day: self.counts[day] for day in days}

    def publish(self) -> None:
        for day in self.counts:
            target, new = day_dir(self.folder, day), day_dir(self.staging, day)
            if target.exists():  # set aside, removed with the staging folder
                target.rename(self.staging / f"replaced-{target.name}")
            if new.exists():
                new.rename(target)


def replace_days(folder: Path, rows: pa.Table, days: Sequence[date]) -> dict[date, int]:
    """Make each of ``days`` hold exactly its rows of ``rows``: every day's file is written
    before any is swapped in. Returns the rows written per day."""
    with DaysWrite(folder) as write:
        counts = write.add(rows, days)
        write.publish()
    return counts


def ingest_reference(lake: Path, table: str) -> int:
    """Replace a reference table (one file, no days) with the package's; returns its rows."""
    folder = table_dir(lake, table)
    folder.mkdir(parents=True, exist_ok=True)
    query, parameters = reference_table_query(table)
    rows = duckdb.connect().sql(query, params=parameters).to_arrow_table()
    staged = folder / f".{PART_FILE}.{uuid.uuid4().hex}"
    pq.write_table(rows, staged)
    staged.replace(folder / PART_FILE)
    return rows.num_rows


def duckdb_view_sql(folder: Path, relation: str, day_column: str | None = DAY_COLUMN) -> str:
    """A DuckDB view of a lake table under ``relation`` (schema.table): every Parquet file of
    the folder, its days from the folder names. DuckDB binds a view when it is made, so make
    it once the folder holds a file."""
    where = str(Path(folder).resolve()).replace("'", "''")
    if day_column is None:
        return f"create or replace view {relation} as select * from read_parquet('{where}/*.parquet')"
    return (f"create or replace view {relation} as select * from read_parquet("
            f"'{where}/{day_column}=*/*.parquet', hive_partitioning = true,"
            f" hive_types = {{'{day_column}': date}})")


def show_built_tables(con, lake: Path) -> list[str]:
    """Show each table dbt has built in the lake (Spark's <schema>.db/<table>/, partitioned by
    a day column or not) as a view of the same name in the DuckDB connection. Returns the
    relations shown."""
    shown = []
    for schema_dir in sorted(Path(lake).glob("*.db")):
        schema = schema_dir.name.removesuffix(".db")
        for folder in sorted(schema_dir.iterdir()):
            day_columns = {part.name.split("=")[0] for part in folder.glob("*=*")}
            if len(day_columns) > 1 or not any(folder.rglob("*.parquet")):
                continue
            con.execute(f"create schema if not exists {schema}")
            con.execute(duckdb_view_sql(folder, f"{schema}.{folder.name}",
                                        day_column=next(iter(day_columns), None)))
            shown.append(f"{schema}.{folder.name}")
    return shown
