"""The instance's event log (internals/event_log_storage.py) stores a single-run backfill's
batches of events in one go, and what it stores reads back exactly as what Dagster's own
SQLite event log stores one event at a time: the run's events, the partitions' status, the
latest materialization, the checks' executions. It keeps one engine per database file."""

from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

import internals.event_log_storage as storage_module
from internals.event_log_storage import KEPT_ENGINES, BatchedSqliteEventLogStorage

DAYS = DailyPartitionsDefinition(start_date="2013-01-01", end_date="2013-01-31")


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run(),
       check_specs=[AssetCheckSpec("has_rows", asset="daily_table")])
def daily_table(context) -> MaterializeResult:
    # A partitioned check, as raw/* and dbt's tests are: planned for each day of the range.
    return MaterializeResult(metadata={"days": len(context.partition_keys)},
                             check_results=[AssetCheckResult(passed=True)])


@asset(partitions_def=DAYS, deps=[daily_table], backfill_policy=BackfillPolicy.single_run())
def daily_feature() -> None:
    pass


DEFS = Definitions(assets=[daily_table, daily_feature])


def instance_at(home: Path, batched: bool) -> DagsterInstance:
    home.mkdir()
    if batched:
        (home / "dagster.yaml").write_text(
            "event_log_storage:\n  module: internals.event_log_storage\n"
            f"  class: BatchedSqliteEventLogStorage\n  config:\n    base_dir: {home}/history/runs\n")
    return DagsterInstance.from_config(str(home))


def backfill_january(instance: DagsterInstance) -> str:
    job = DEFS.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, tags={
        ASSET_PARTITION_RANGE_START_TAG: "2013-01-01",
        ASSET_PARTITION_RANGE_END_TAG: "2013-01-30"})
    assert result.success
    return result.run_id


def what_is_stored(instance: DagsterInstance, run_id: str) -> dict:
    events = [(record.dagster_event.event_type_value, record.dagster_event.asset_key,
               record.dagster_event.partition)
              for record in instance.all_logs(run_id) if record.is_dagster_event]
    keys = [AssetKey("daily_table"), AssetKey("daily_feature")]
    checks = instance.event_log_storage.get_asset_check_execution_history(
        next(iter(DEFS.resolve_asset_graph().asset_check_keys)), limit=100)
    return {
        "events": sorted(events, key=str),
        "materialized": {key: sorted(instance.get_materialized_partitions(key)) for key in keys},
        "latest": {key: (instance.get_latest_materialization_event(key).dagster_event.partition)
                   for key in keys},
        "last_run": {key: instance.get_asset_records([key])[0].asset_entry.last_run_id == run_id
                     for key in keys},
        "checks": sorted(((check.partition, check.status.value) for check in checks), key=str),
    }


def test_a_backfill_reads_back_as_dagster_stores_it(tmp_path, monkeypatch):
    batches = []
    store = BatchedSqliteEventLogStorage._store_asset_events
    monkeypatch.setattr(BatchedSqliteEventLogStorage, "_store_asset_events",
                        lambda self, events: batches.append(len(events)) or store(self, events))

    plain = instance_at(tmp_path / "plain", batched=False)
    assert type(plain.event_log_storage) is not BatchedSqliteEventLogStorage
    expected = what_is_stored(plain, backfill_january(plain))

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    batched = instance_at(tmp_path / "batched", batched=True)
    assert type(batched.event_log_storage) is BatchedSqliteEventLogStorage
    stored = what_is_stored(batched, backfill_january(batched))

    # 30 days of two assets, planned then materialized, went in a handful of batches.
    assert sum(batches) == 4 * 30 and max(batches) >= 30
    assert stored == expected
    assert len(stored["materialized"][AssetKey("daily_table")]) == 30
    assert {day for day, _ in stored["checks"]} >= set(DAYS.get_partition_keys()[:30])


def test_each_database_file_keeps_one_engine_and_a_wiped_log_starts_again(tmp_path, monkeypatch):
    made = []
    create = storage_module.create_engine
    monkeypatch.setattr(storage_module, "create_engine",
                        lambda *args, **kwargs: made.append(args[0]) or create(*args, **kwargs))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    instance = instance_at(tmp_path / "home", batched=True)
    first = what_is_stored(instance, backfill_january(instance))
    # Hundreds of connections (every event, every read), one engine per file: the index, the run.
    assert sorted(set(made)) == sorted(made) and len(made) == 2

    instance.wipe()  # the files are deleted: the next use of a kept engine creates them again
    assert what_is_stored(instance, backfill_january(instance))["materialized"] == first["materialized"]


def test_the_engines_kept_are_the_latest_files_used(tmp_path):
    storage = BatchedSqliteEventLogStorage(str(tmp_path))
    shards = [f"run{number}" for number in range(KEPT_ENGINES + 5)]
    for shard in shards:
        storage._engine_for(shard)
    storage._engine_for(shards[0])  # used again: made again, the newest
    assert list(storage._engines) == [*shards[6:], shards[0]]
