"""The warehouse on Spark gives DuckDB's results: six weeks landed once, ingested into both
engines, the dbt project built on each (on Spark by executors of a standalone cluster started
for this module), and every staging, label and feature relation compared row by row."""

import math
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from assets.ingest.raw import ingest_days as ingest_into_duckdb
from core.ingest.contract import DAILY_DATASETS, REFERENCE_TABLES, LandingFileError, landing_path
from core.ingest.upstream import days_between, land_days, reference_table_query
from resources.landing import LandingZone
from resources.settings import REPO_ROOT
from resources.warehouse import DuckDBWarehouse
from spark import lake
from spark.connection import SparkConnection
from tools.faults import bad_landing_files

FIRST, LAST = date(2013, 1, 1), date(2013, 2, 11)  # six weeks: 28 days of history and more
DAYS = days_between(FIRST, LAST)
# Each relation dbt builds, by the column that identifies its rows.
RELATIONS = {"staging.stg_schedule": "flight_id", "staging.stg_outcomes": "flight_id",
             "staging.stg_weather": "weather_id", "staging.stg_planes": "tailnum",
             "labels.flight_labels": "flight_id", "labels.weather_at_departure": "flight_id",
             "features.flight_features": "flight_id"}
RELATIVE_TOLERANCE = 1e-9  # engines may sum floats in another order
DBT = Path(sys.executable).parent / "dbt"


def dbt_build(target_path: Path, env: dict[str, str], *arguments: str) -> None:
    result = subprocess.run([str(DBT), "build", "--target-path", str(target_path), *arguments],
                            cwd=REPO_ROOT / "dbt_project", env={**os.environ, **env},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    land_days(folder, FIRST, LAST)
    return folder


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory, landing) -> DuckDBWarehouse:
    """The embedded engine, through the platform's own ingest."""
    root = tmp_path_factory.mktemp("duckdb")
    warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
    zone = LandingZone(path=str(landing), quarantine_path=str(root / "quarantine"))
    for dataset in DAILY_DATASETS.values():
        ingest_into_duckdb(warehouse, zone, dataset, DAYS)
    with warehouse.transaction() as con:
        for table in REFERENCE_TABLES:
            query, parameters = reference_table_query(table)
            con.execute(f"create table raw.{table} as {query}", parameters)
    dbt_build(root / "dbt_target", {"WAREHOUSE_PATH": warehouse.path})
    return warehouse


@pytest.fixture(scope="module")
def spark_built(tmp_path_factory, landing, spark_cluster) -> SparkConnection:
    root = tmp_path_factory.mktemp("spark-warehouse")
    connection = SparkConnection(master=spark_cluster.master_url, lake_dir=root / "lake",
                                 metastore_dir=root / "metastore")
    for name, dataset in DAILY_DATASETS.items():
        lake.ingest_days(connection.lake_dir, dataset,
                         {day: landing_path(landing, name, day) for day in DAYS})
    for table in REFERENCE_TABLES:
        lake.ingest_reference(connection.lake_dir, table)
    dbt_build(root / "dbt_target", connection.dbt_environment())
    return connection


def rows_by_key(table: pa.Table, key: str) -> tuple[list[str], dict]:
    names = sorted(table.column_names)
    rows = table.select(names).to_pylist()
    return names, {row[key]: row for row in rows}


def same_value(left, right) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (left == right or math.isclose(left, right, rel_tol=RELATIVE_TOLERANCE)
                or (math.isnan(left) and math.isnan(right)))
    return left == right


def differences(spark_table: pa.Table, duckdb_table: pa.Table, key: str) -> list[str]:
    """What differs between the two engines' rows, matched by key (at most a few lines)."""
    spark_names, spark_rows = rows_by_key(spark_table, key)
    duckdb_names, duckdb_rows = rows_by_key(duckdb_table, key)
    found = []
    if spark_names != duckdb_names:
        found.append(f"columns: spark {spark_names} duckdb {duckdb_names}")
    if len(spark_rows) != spark_table.num_rows or len(duckdb_rows) != duckdb_table.num_rows:
        found.append(f"{key} repeats")
    if spark_rows.keys() != duckdb_rows.keys():
        found.append(f"rows only on spark: {len(spark_rows.keys() - duckdb_rows.keys())},"
                     f" only on duckdb: {len(duckdb_rows.keys() - spark_rows.keys())}")
    for identity in sorted(spark_rows.keys() & duckdb_rows.keys()):
        left, right = spark_rows[identity], duckdb_rows[identity]
        found += [f"{identity}.{name}: spark {left[name]!r} duckdb {right[name]!r}"
                  for name in spark_names if name in right
                  and not same_value(left[name], right[name])]
        if len(found) > 10:
            break
    return found


def test_every_relation_equals_duckdbs_row_for_row(spark_built, duckdb_warehouse):
    spark = spark_built.session("test_spark_warehouse")
    try:
        with duckdb_warehouse.connect(read_only=True) as con:
            for relation, key in RELATIONS.items():
                on_spark = spark.table(relation).toArrow()
                on_duckdb = con.sql(f"select * from {relation}").to_arrow_table()
                assert on_spark.num_rows == on_duckdb.num_rows > 0, relation
                assert differences(on_spark, on_duckdb, key) == [], relation
                assert differences(on_spark, on_duckdb.slice(1), key)  # the comparison can fail
        # and the work ran on the cluster's executors, not in the driver
        assert spark.sparkContext.master == spark_built.master
    finally:
        spark.stop()


def test_the_feature_days_are_parquet_partitions_in_the_lake(spark_built):
    features = spark_built.lake_dir / "features.db" / "flight_features"
    assert sorted(p.name for p in features.iterdir() if p.name.startswith("flight_date=")) == [
        f"flight_date={day}" for day in DAYS]
    assert all(list(day.glob("*.parquet")) for day in features.glob("flight_date=*"))


def test_both_engines_refuse_a_bad_file_with_the_same_error(landing, tmp_path):
    day = date(2013, 3, 1)  # the day bad_landing_files breaks
    land_days(landing, day, day, datasets=("schedule",))
    bad = landing_path(landing, "schedule", day)
    content, message, _, _ = bad_landing_files(bad.read_bytes())["negative distance"]
    bad.write_bytes(content)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    zone = LandingZone(path=str(landing), quarantine_path=str(tmp_path / "quarantine"))

    with pytest.raises(LandingFileError) as on_duckdb:
        ingest_into_duckdb(warehouse, zone, DAILY_DATASETS["schedule"], [day])
    with pytest.raises(LandingFileError) as on_spark:
        lake.ingest_days(tmp_path / "lake", DAILY_DATASETS["schedule"], {day: bad})
    assert str(on_spark.value) == str(on_duckdb.value)
    assert message in str(on_spark.value) and str(bad) in str(on_spark.value)
    assert not (tmp_path / "lake" / "raw" / "schedule").exists() or not any(
        (tmp_path / "lake" / "raw" / "schedule").glob("partition_date=*"))
