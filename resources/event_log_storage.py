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

It subclasses internals of the pinned Dagster (pyproject.toml), as resources/dbt_project.py
does for dagster-dbt; tests/test_event_log_storage.py compares what it stores with Dagster's.
"""

from collections.abc import Sequence

from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import serialize_value


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "BatchedSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)

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
