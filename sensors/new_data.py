"""sensors/new_data: watch the landing zone and ingest each new or changed daily file.

The cursor maps every file handled to its content hash, so a file delivered again with the same
bytes requests nothing, and a corrected file re-ingests its day. The first tick starts from what
the warehouse already holds (raw.ingest_log), so `make run` followed by `make ui` re-ingests
nothing. What to request is planned in core/ingest_plan.py (one run per day; outcomes wait for
their schedule). Everything downstream follows by declarative automation.
"""

import json

import duckdb
from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from assets.ingest.raw import ingested_hashes, raw_key
from assets.partitions import daily_partitions
from core.contract import DAILY_DATASETS
from core.ingest_plan import plan_ingestion
from resources.landing import LandingZone, file_sha256
from resources.warehouse import DuckDBWarehouse, WarehouseBusy

HASH_CHARS = 16


def scan_landing_zone(landing: LandingZone) -> dict[str, str]:
    """{"<dataset>/<day>": content hash} for every daily file in the landing zone."""
    found = {}
    for dataset in DAILY_DATASETS:
        for path in sorted(landing.dataset_dir(dataset).glob("*.csv")):
            found[f"{dataset}/{path.stem}"] = file_sha256(path)[:HASH_CHARS]
    return found


@sensor(
    name="new_data",
    asset_selection=[raw_key(name) for name in DAILY_DATASETS],
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
    scheduled = context.instance.get_materialized_partitions(raw_key("schedule"))
    plan = plan_ingestion(seen, found, set(daily_partitions.get_partition_keys()), scheduled)
    for name in plan.ignored:
        context.log.warning(f"ignoring landing file {name}")
    for name in plan.waiting:
        context.log.info(f"not yet: {name}")
    context.update_cursor(json.dumps(plan.seen, sort_keys=True))
    if not plan.days:
        return SkipReason(f"no new or changed files to ingest among {len(found)} in {landing.path}"
                          + (f"; waiting: {', '.join(plan.waiting)}" if plan.waiting else ""))
    context.log.info(f"{len(plan.days)} day(s) to ingest: {[d.day for d in plan.days]}")
    return [
        RunRequest(run_key=day.run_key, partition_key=day.day,
                   asset_selection=[raw_key(dataset) for dataset in day.datasets],
                   tags={"landing/files": ",".join(f"{d}/{day.day}.csv" for d in day.datasets)})
        for day in plan.days
    ]
