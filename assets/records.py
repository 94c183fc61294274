"""What the Dagster instance records about assets, read the same way everywhere: the latest
materialization of a key (or of one partition of it), its metadata.

Sensors and reports read these instead of the warehouse: a sensor never waits on the
warehouse's one writer.
"""

from __future__ import annotations

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, EventLogRecord


def latest_record(instance: DagsterInstance, key: AssetKey,
                  partition: str | None = None) -> EventLogRecord | None:
    """The latest materialization of ``key`` (of its ``partition``), None if there is none."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1).records
    return records[0] if records else None


def latest_metadata(instance: DagsterInstance, key: AssetKey,
                    partition: str | None = None) -> dict:
    """The metadata values of the latest materialization ({} if none)."""
    record = latest_record(instance, key, partition)
    if record is None:
        return {}
    return {name: value.value for name, value in
            record.asset_materialization.metadata.items()}


def latest_storage_ids(instance: DagsterInstance, key: AssetKey,
                       partitions: list[str]) -> dict[str, int]:
    """{partition: storage id of its latest materialization} for those of ``partitions`` that
    have one. Storage ids grow with time: a larger one was recorded later."""
    latest: dict[str, int] = {}
    if not partitions:  # an empty filter would match every partition
        return latest
    cursor = None
    while True:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=100,
            cursor=cursor)
        for record in result.records:  # newest first
            latest.setdefault(record.partition_key, record.storage_id)
        if not result.has_more:
            return latest
        cursor = result.cursor
