"""sensors/new_data: watch the landing zone and ingest each new or changed daily file.

The cursor maps every file seen to its content hash, so a file delivered again with the same
bytes requests nothing, and a corrected file re-ingests its day. The first tick starts from what
the warehouse already holds (raw.ingest_log), so `make run` followed by `make ui` re-ingests
nothing. One request per day, for the
raw assets whose files changed; its run key names the day and the hashes, so a request is
never launched twice. Everything downstream follows by declarative automation.
"""

import json

import duckdb
from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from assets.partitions import daily_partitions
from assets.raw import ingested_hashes
from resources.landing import DAILY_DATASETS, LandingZone, file_sha256
from resources.warehouse import DuckDBWarehouse, WarehouseBusy

HASH_CHARS = 16


def scan_landing_zone(landing: LandingZone) -> dict[str, str]:
    """{"<dataset>/<day>": content hash} for every daily file in the landing zone."""
    found = {}
    for dataset in DAILY_DATASETS:
        for path in sorted(landing.dataset_dir(dataset).glob("*.csv")):
            found[f"{dataset}/{path.stem}"] = file_sha256(path)[:HASH_CHARS]
    return found


def requests_for_changes(seen: dict[str, str], found: dict[str, str], valid_days: set[str]):
    """One RunRequest per day with new or changed files; and the files left out, with why."""
    changed_by_day: dict[str, dict[str, str]] = {}
    ignored = []
    for name, digest in found.items():
        if seen.get(name) == digest:
            continue
        dataset, day = name.split("/")
        if day not in valid_days:
            ignored.append(f"{name}.csv (no such daily partition)")
            continue
        changed_by_day.setdefault(day, {})[dataset] = digest
    requests = [
        RunRequest(
            run_key=f"{day}:" + ",".join(f"{d}={h}" for d, h in sorted(changes.items())),
            partition_key=day,
            asset_selection=[AssetKey(["raw", dataset]) for dataset in sorted(changes)],
            tags={"landing/files": ",".join(f"{d}/{day}.csv" for d in sorted(changes))},
        )
        for day, changes in sorted(changed_by_day.items())
    ]
    return requests, ignored


@sensor(
    name="new_data",
    asset_selection=[AssetKey(["raw", name]) for name in DAILY_DATASETS],
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests raw/* for each day whose landing file is new or changed.",
)
def new_data_sensor(context: SensorEvaluationContext, landing: LandingZone,
                    warehouse: DuckDBWarehouse):
    if context.cursor:
        seen = json.loads(context.cursor)
    else:
        try:
            ingested = ingested_hashes(warehouse, wait_seconds=5)
        except (WarehouseBusy, duckdb.IOException):  # a run holds the file; the next tick retries
            return SkipReason("first tick: the warehouse is busy, retrying")
        seen = {name: digest[:HASH_CHARS] for name, digest in ingested.items()}
    found = scan_landing_zone(landing)
    requests, ignored = requests_for_changes(
        seen, found, set(daily_partitions.get_partition_keys())
    )
    for name in ignored:
        context.log.warning(f"ignoring landing file {name}")
    context.update_cursor(json.dumps(found, sort_keys=True))
    if not requests:
        return SkipReason(f"no new or changed files among {len(found)} in {landing.path}")
    context.log.info(f"{len(requests)} day(s) to ingest: {[r.partition_key for r in requests]}")
    return requests
