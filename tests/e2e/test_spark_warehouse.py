"""The warehouse on Spark gives DuckDB's results. Two deployments of the same six weeks, each
run through Dagster as a user runs it: the shared one on DuckDB, and one with ENGINE=spark on
the session's standalone cluster (raw days as Parquet in its lake, dbt on the cluster's
executors). Both train at the same cutoff, promote and serve the days after it; their tables,
training sets, holdout metrics and served predictions are compared. Last, every worker is lost
while dbt writes the features."""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date, timedelta

import pyarrow as pa
import pytest
from dagster import DagsterEventType

from assets.ingest.raw import ingest_days as ingest_into_duckdb
from assets.keys import FEATURES_GROUP, LABELS_GROUP, table_of
from core.ingest.contract import DAILY_DATASETS, LandingFileError, landing_path
from core.ingest.upstream import land_days
from resources.landing import LandingZone
from resources.settings import REPO_ROOT
from resources.warehouse import DuckDBWarehouse
from spark import lake
from spark.cluster import java_options_from_env
from spark.connection import SPARK_POOL
from tests.conftest import SHARED_FIRST, SHARED_LAST
from tools.faults import bad_landing_files
from tools.sandbox import SMALL_WINDOW, Platform

CUTOFF = date(2013, 2, 3)
SERVED = (str(CUTOFF), str(SHARED_LAST))
# What dbt builds, by the column that identifies a row. The staging models are views on Spark,
# read through its driver; the tables are read through the warehouse file on both engines.
STAGING = {"staging.stg_schedule": "flight_id", "staging.stg_outcomes": "flight_id",
           "staging.stg_weather": "weather_id", "staging.stg_planes": "tailnum"}
TABLES = {"labels.flight_labels": "flight_id", "labels.weather_at_departure": "flight_id",
          "features.flight_features": "flight_id"}
RELATIVE_TOLERANCE = 1e-9  # engines may sum floats in another order
METRIC_TOLERANCE = 0.001


def trained_and_serving(platform: Platform) -> Platform:
    assert platform.train(str(CUTOFF)).success
    assert platform.promote().success
    served = [model.predictions for model in platform.models]
    assert platform.execute(served, partition_range=SERVED).success
    return platform


@pytest.fixture(scope="module")
def on_duckdb(built_platform, tmp_path_factory) -> Platform:
    return trained_and_serving(built_platform.clone(tmp_path_factory.mktemp("duckdb"),
                                                    SMALL_WINDOW))


@pytest.fixture(scope="module")
def on_spark(tmp_path_factory, spark_cluster, definitions_module, runner) -> Platform:
    platform = Platform(tmp_path_factory.mktemp("spark"), definitions_module, runner,
                        SMALL_WINDOW, spark=spark_cluster)
    platform.land(SHARED_FIRST, SHARED_LAST)
    assert all(platform.materialize(SHARED_FIRST, SHARED_LAST).values())
    return trained_and_serving(platform)


def rows_by_key(table: pa.Table, key: str) -> tuple[list[str], dict]:
    names = sorted(table.column_names)
    return names, {row[key]: row for row in table.select(names).to_pylist()}


def same_value(left, right, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return (left == right or math.isclose(left, right, rel_tol=tolerance)
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


def table(platform: Platform, sql: str) -> pa.Table:
    with platform.warehouse.connect(read_only=True) as con:
        return con.sql(sql).to_arrow_table()


def test_labels_and_features_equal_duckdbs_row_for_row(on_spark, on_duckdb):
    for relation, key in TABLES.items():
        spark_rows = table(on_spark, f"select * from {relation}")
        duckdb_rows = table(on_duckdb, f"select * from {relation}")
        assert spark_rows.num_rows == duckdb_rows.num_rows > 0, relation
        assert differences(spark_rows, duckdb_rows, key) == [], relation
        assert differences(spark_rows, duckdb_rows.slice(1), key)  # the comparison can fail
    # on Spark they are Parquet partitions by day in the lake, which the file only shows
    features = on_spark.settings.spark.lake_dir / "features.db" / "flight_features"
    days = (SHARED_LAST - SHARED_FIRST).days + 1
    assert sorted(p.name for p in features.glob("flight_date=*")) == [
        f"flight_date={SHARED_FIRST + timedelta(days=n)}" for n in range(days)]
    assert table(on_spark, "select table_type from information_schema.tables where"
                           " table_name = 'flight_features'").column(0).to_pylist() == ["VIEW"]


def test_the_staging_views_equal_duckdbs_row_for_row(on_spark, on_duckdb):
    spark = on_spark.settings.spark.session("test_spark_warehouse")
    try:
        assert spark.sparkContext.master == on_spark.settings.spark.master  # the cluster's
        conf = spark.sparkContext.getConf()
        for process in ("driver", "executor"):  # its JVMs', as the cluster's (spark/cluster.py)
            # after the options Spark itself gives every JVM (--add-opens, ...)
            assert conf.get(f"spark.{process}.extraJavaOptions").endswith(
                f" {java_options_from_env()}")
        for relation, key in STAGING.items():
            spark_rows = spark.table(relation).toArrow()
            duckdb_rows = table(on_duckdb, f"select * from {relation}")
            assert spark_rows.num_rows == duckdb_rows.num_rows > 0, relation
            assert differences(spark_rows, duckdb_rows, key) == [], relation
    finally:
        spark.stop()


def registry(platform: Platform) -> dict[str, tuple[str, dict]]:
    rows = platform.query("select model_name, training_set_hash, metrics from ml.model_registry")
    return {name: (training_set, json.loads(metrics)) for name, training_set, metrics in rows}


def test_the_training_sets_match_and_the_holdout_metrics_agree(on_spark, on_duckdb):
    spark_models, duckdb_models = registry(on_spark), registry(on_duckdb)
    assert spark_models.keys() == duckdb_models.keys() == {m.name for m in on_spark.models}
    for name, (training_set, metrics) in spark_models.items():
        assert training_set == duckdb_models[name][0], name  # the same rows, to the byte
        numbers = {k: v for k, v in metrics.items() if isinstance(v, float)}
        assert numbers.keys() >= {"auc"} or numbers.keys() >= {"mae"}
        for metric, value in numbers.items():
            assert abs(value - duckdb_models[name][1][metric]) <= METRIC_TOLERANCE, (name, metric)


def test_the_served_predictions_match(on_spark, on_duckdb):
    for model in on_spark.models:
        sql = (f"select flight_id, flight_date, prediction, flagged"
               f" from {table_of(model.predictions)} order by flight_id")
        spark_rows, duckdb_rows = on_spark.query(sql), on_duckdb.query(sql)
        assert len(spark_rows) == len(duckdb_rows) > 1000, model.name
        assert [row[:2] for row in spark_rows] == [row[:2] for row in duckdb_rows]
        assert all(same_value(s[2], d[2], 1e-6) and s[3] == d[3]
                   for s, d in zip(spark_rows, duckdb_rows, strict=True)), model.name


def test_both_engines_refuse_a_bad_file_with_the_same_error(tmp_path):
    day = date(2013, 3, 1)  # the day bad_landing_files breaks
    land_days(tmp_path / "landing", day, day, datasets=("schedule",))
    bad = landing_path(tmp_path / "landing", "schedule", day)
    content, message, _, _ = bad_landing_files(bad.read_bytes())["negative distance"]
    bad.write_bytes(content)
    zone = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "quarantine"))
    refused = {}
    for engine, lake_dir in (("duckdb", None), ("spark", str(tmp_path / "lake"))):
        warehouse = DuckDBWarehouse(path=str(tmp_path / f"{engine}.duckdb"), lake_dir=lake_dir)
        with pytest.raises(LandingFileError) as error:
            ingest_into_duckdb(warehouse, zone, DAILY_DATASETS["schedule"], [day])
        refused[engine] = str(error.value)
    assert refused["spark"] == refused["duckdb"]
    assert message in refused["spark"] and str(bad) in refused["spark"]
    assert not list((tmp_path / "lake").rglob("*.parquet"))  # nothing written, nothing staged
    assert not list(lake.table_dir(tmp_path / "lake", "schedule").glob(".staging-*"))


def build_spans(platform: Platform, runs: int) -> list[tuple[float, float]]:
    """When the dbt build step of each of the newest ``runs`` runs started and succeeded."""
    spans = []
    for run in platform.instance.get_runs(limit=runs):
        events = platform.instance.all_logs(run.run_id, of_type={
            DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
        times = {event.dagster_event.event_type: event.timestamp for event in events
                 if "dbt_daily" in (event.step_key or "")}
        spans.append((times[DagsterEventType.STEP_START], times[DagsterEventType.STEP_SUCCESS]))
    return spans


def test_two_runs_build_different_days_on_spark_at_once(on_spark):
    """Two runs, each in a process of its own as the daemon launches them, build the labels of
    different days at the same time, into the same partitioned tables: their builds take the
    Spark pool (its limit the engine's, not the DuckDB file's 1) and share the cluster's
    catalog; the tables come out as they were. (The labels alone: the features are the same
    kind of write, and longer to build.)"""
    assert on_spark.instance.event_log_storage.get_concurrency_info(SPARK_POOL).slot_count == 2
    rows = {relation: f"select * from {relation} order by {key}"
            for relation, key in TABLES.items() if relation.startswith(f"{LABELS_GROUP}.")}
    rows_before = {relation: table(on_spark, sql) for relation, sql in rows.items()}
    spans = [(SHARED_FIRST + timedelta(days=first), SHARED_FIRST + timedelta(days=first + 2))
             for first in (7, 21)]
    runs = [subprocess.Popen(
        [sys.executable, "platform/cli.py", "materialize", "--start", str(first), "--end",
         str(last), "--group", LABELS_GROUP],
        env=on_spark.environment(os.environ), cwd=REPO_ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for first, last in spans]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    (first_start, first_end), (second_start, second_end) = build_spans(on_spark, 2)
    assert first_start < second_end and second_start < first_end  # at once
    for relation, sql in rows.items():
        assert table(on_spark, sql).equals(rows_before[relation]), relation


PATIENCE = 20  # seconds a build waits with no executor (SPARK_EXECUTOR_WAIT_SECONDS)


def visible_files(table_dir) -> dict[str, int]:
    """A lake table's Parquet files a reader sees (not Spark's hidden staging), with sizes."""
    return {str(path.relative_to(table_dir)): path.stat().st_size
            for path in table_dir.rglob("*.parquet")
            if not any(part.startswith((".", "_")) for part in path.relative_to(table_dir).parts)}


def kill_every_worker_once_writing(cluster, table_dir, killed: threading.Event,
                                   timeout: float = 600) -> None:
    """SIGKILL both workers and their executors as soon as a job stages files in the table."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(path.name.startswith((".spark-staging", "_temporary"))
               for path in table_dir.iterdir()):
            for name in ("worker-1", "worker-2"):
                cluster.stop_process(name, signal.SIGKILL)
            killed.set()
            return
        time.sleep(0.1)


def test_every_worker_lost_mid_write_fails_the_build_and_a_rerun_restores_the_days(
        on_spark, spark_cluster, definitions_module, runner):
    """Spark itself would wait for executors until the workers came back: the build gives up
    after its patience with an error that says so, the features keep every partition they had,
    and once the workers are back a run of the same days writes them again."""
    settings = replace(on_spark.settings,
                       spark=replace(on_spark.settings.spark, executor_wait_seconds=PATIENCE))
    defs = definitions_module.build_definitions(settings, SMALL_WINDOW)
    graph = defs.get_repository_def().asset_graph
    built = [key for key in graph.materializable_asset_keys
             if graph.get(key).group_name == FEATURES_GROUP]  # its labels are built already
    lost_days = [SHARED_FIRST + timedelta(days=n) for n in range(14, 17)]
    days = (str(lost_days[0]), str(lost_days[-1]))
    features = settings.spark.lake_dir / "features.db" / "flight_features"
    files_before = visible_files(features)
    rows = "select * from features.flight_features order by flight_id"
    rows_before = table(on_spark, rows)

    killed = threading.Event()
    killer = threading.Thread(target=kill_every_worker_once_writing,
                              args=(spark_cluster, features, killed), daemon=True)
    killer.start()
    started = time.monotonic()
    try:
        lost = runner.execute(defs, on_spark.instance, built, partition_range=days,
                              log=lambda _: None)
        waited = time.monotonic() - started
    finally:
        killer.join()
        spark_cluster.start()  # the workers come back (the later modules' cluster too)
    assert killed.is_set(), "no write of the features was seen to kill the workers in"
    assert not lost.success and waited < PATIENCE + 180
    failure = next(event for event in lost.all_events if event.is_step_failure)
    error = failure.step_failure_data.error
    message = " ".join(part.message for part in (error, error.cause) if part)
    assert f"the Spark cluster at {settings.spark.master} gave the build no executor" in message
    assert f"dbt build for {days[0]}..{days[1]} failed" in message
    assert visible_files(features) == files_before  # no partition half-written
    assert table(on_spark, rows).equals(rows_before)

    rerun = runner.execute(defs, on_spark.instance, built, partition_range=days,
                           log=lambda _: None)
    assert rerun.success
    rewritten = {path for path in visible_files(features) if path not in files_before}
    assert {path.split("/")[0] for path in rewritten} == {f"flight_date={day}" for day in lost_days}
    assert table(on_spark, rows).equals(rows_before)
