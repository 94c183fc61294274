"""The Dagster instance's event log: Dagster's own SQLite storage, writing a batch of events in
one transaction per file instead of one per event.

A single-run backfill records one event per asset and partition twice: planned when the run is
created, materialized when its step ends. The year's data is 10 assets x 365 days, ~7,000
events; Dagster's SQLite storage writes each one on its own (a new engine on two database
files and a sync each time, ~7 ms here), which was two thirds of the year's backfill. Dagster
hands exactly those events over in batches when DAGSTER_EVENT_BATCH_SIZE is set (the Makefile
sets it); this storage writes the asset events of a batch in one transaction on the run's file
and one on the index, with the same rows Dagster would write. Every other event, and every
event when the variable is unset, is stored as Dagster stores it.

Every write and read also reuses one SQLAlchemy engine per database file (the latest few
files), where Dagster's creates an engine for every statement's connection and disposes of it:
~1 ms each, and a day's dbt build opens ~700 connections (an asset event writes its run's file
and the index, a check's result its execution row too, and the run's steps read them back).
Connections are still new for each use (NullPool), as Dagster's: nothing is held open.

It subclasses internals of the pinned Dagster (pyproject.toml), as internals/dbt_in_process.py
does for dagster-dbt; tests/wiring/test_event_log_storage.py compares what it stores with Dagster's.
"""

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import serialize_value
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# Engines kept: the index and the runs being written and read (the webserver reads many runs'
# files; an engine without a pool holds no connection, only its configuration).
KEPT_ENGINES = 32


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # before Dagster's init uses them
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "BatchedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's _connect, with the shard's engine kept instead of made and disposed of.
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:  # reset when the storage is wiped
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine_for(self, shard: str) -> Engine:
        engines = self._engines
        if shard in engines:
            engines.move_to_end(shard)
            return engines[shard]
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        engines[shard] = engine
        if len(engines) > KEPT_ENGINES:
            engines.popitem(last=False)[1].dispose()
        return engine

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        # In order: each run of consecutive asset events of one run together, others one by one.
        together: list[EventLogEntry] = []
        for event in events:
            if together and (not _is_asset_event(event) or event.run_id != together[0].run_id):
                self._store_asset_events(together)
                together = []
            if _is_asset_event(event):
                together.append(event)
            else:
                self.store_event(event)
        if together:
            self._store_asset_events(together)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        """What SqliteEventLogStorage.store_event writes for each asset event: the event in its
        run's file, its copy in the index (whose id the asset tables point to), its tags, and
        the asset's latest-event columns."""
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            event_ids = []
            for row in rows:
                result = conn.execute(SqlEventLogStorageTable.insert(), row)
                event_ids.append(result.inserted_primary_key[0])
                result.close()
            self._store_asset_event_tags(conn, events, event_ids)
            # Each event overwrites the asset's latest-event columns its type sets, so the last
            # event of each asset and type, in order, leaves them as all of them would.
            last_of_each = {}
            for event, event_id in zip(events, event_ids, strict=True):
                last_of_each[event.dagster_event.asset_key, event.dagster_event_type] = (
                    event, event_id)
            for event, event_id in sorted(last_of_each.values(), key=lambda pair: pair[1]):
                self._store_asset_event(conn, event, event_id)

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry,
                                              event_id: int | None) -> None:
        # Dagster's writes one row per partition, serializing the event again for each (a
        # year's check is 365 copies of it): the same rows, the event serialized once.
        planned = event.dagster_event.event_specific_data
        partition_keys = (planned.partitions_subset.get_partition_keys()
                          if planned.partitions_subset else [None])
        common = dict(
            asset_key=planned.asset_key.to_string(), check_name=planned.check_name,
            run_id=event.run_id, execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event),
            evaluation_event_storage_id=event_id)
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(),
                         [{**common, "partition": key} for key in partition_keys])


def _is_asset_event(event: EventLogEntry) -> bool:
    return (event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS
            and event.dagster_event.asset_key is not None)
