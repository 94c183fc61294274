"""The lake: the warehouse's tables as Parquet folders, each partitioned by day, which Spark
(and any engine that reads Parquet) queries in place.

``<lake>/raw/<table>/partition_date=<day>/part-0.parquet`` holds one day of a daily feed, as the
landing contract typed it (core/ingest/validation.py: the same checks, the same errors as the
DuckDB warehouse's ingest); the reference tables are one file each. What dbt builds on Spark
lives beside them, in ``<lake>/<schema>.db/`` (Spark's warehouse directory).

A day is replaced whole: its new file is written in full under a hidden staging folder (which
Spark and DuckDB skip) and only then swapped in, so a write that fails leaves the day as it was,
and writing a day twice gives the same partition.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.ingest.contract import LandingDataset
from core.ingest.upstream import reference_table_query
from core.ingest.validation import read_landing_files

RAW_SCHEMA = "raw"
DAY_COLUMN = "partition_date"
PART_FILE = "part-0.parquet"


def table_dir(lake: Path, table: str, schema: str = RAW_SCHEMA) -> Path:
    return Path(lake) / schema / table


def day_dir(folder: Path, day: date) -> Path:
    return Path(folder) / f"{DAY_COLUMN}={day.isoformat()}"


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """A hidden folder beside the table's partitions, removed whatever happens."""
    staging = Path(folder) / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_days(folder: Path, rows: pa.Table, days: Sequence[date]) -> dict[date, int]:
    """Make each of ``days`` hold exactly its rows of ``rows`` (which carry partition_date):
    every day's file is written before any is swapped in. A day without rows has no partition
    (a header-only delivery). Returns the rows written per day."""
    counts: dict[date, int] = {}
    with _staging(folder) as staging:
        day_values = rows.column(DAY_COLUMN)
        for day in days:
            of_day = rows.filter(pc.equal(day_values, pa.scalar(day, pa.date32())))
            counts[day] = of_day.num_rows
            if of_day.num_rows:
                day_dir(staging, day).mkdir()
                pq.write_table(of_day.drop_columns([DAY_COLUMN]),
                               day_dir(staging, day) / PART_FILE)
        for day in days:
            _swap_in(day_dir(staging, day), day_dir(folder, day), staging)
    return counts


def _swap_in(new: Path, target: Path, staging: Path) -> None:
    if target.exists():
        target.rename(staging / f"replaced-{target.name}")  # removed with the staging folder
    if new.exists():
        new.rename(target)


def ingest_days(lake: Path, dataset: LandingDataset, files: dict[date, Path]) -> dict[date, int]:
    """Check the landing files of ``dataset`` against its contract and replace their days in
    the lake. A file that breaks the contract raises LandingFileError (naming the file, the
    line and the rule) before anything is written."""
    days = sorted(files)
    rows = read_landing_files(dataset, [files[day] for day in days])
    return replace_days(table_dir(lake, dataset.name), rows, days)


def ingest_reference(lake: Path, table: str) -> int:
    """Replace a reference table (one file, no days) with the package's; returns its rows."""
    folder = table_dir(lake, table)
    folder.mkdir(parents=True, exist_ok=True)
    query, parameters = reference_table_query(table)
    with _staging(folder) as staging:
        rows = duckdb.connect().sql(query, params=parameters).to_arrow_table()
        pq.write_table(rows, staging / PART_FILE)
        (staging / PART_FILE).replace(folder / PART_FILE)
    return rows.num_rows
