"""sensors/new_data: watch the landing zone and ingest each new or changed daily file.

The cursor maps every file handled to its content hash, so a file delivered again with the same
bytes requests nothing, and a corrected file re-ingests its day. The first tick starts from what
the warehouse already holds (raw.ingest_log), so `make run` followed by `make ui` re-ingests
nothing. What to request is planned in core/ingest/plan.py (one run per day; outcomes wait for
their schedule; a day ahead is one run from its schedule to its predictions). The runs of a
landing start together; the serving one waits for the others before its dbt build
(assets/ingest/landing_batch.py): a day's labels are in before the next day's features read them.
Everything else downstream follows by declarative automation.
"""

import hashlib
import json
import os
from datetime import date, timedelta

import duckdb
from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from assets.gate.published import champion_version
from assets.ingest.landing_batch import FILES_TAG, LANDED_AT_TAG, LANDING_BATCH_TAG, WAITS_TAG
from assets.ingest.raw import ingested_hashes, raw_key
from assets.keys import LABELS, ModelKeys
from assets.partitions import RANGE_END_TAG, RANGE_START_TAG, daily_partitions
from assets.records import latest_storage_ids
from core.ingest.contract import DAILY_DATASETS
from core.ingest.digests import FileDigests
from core.ingest.plan import LandingRun, landing_runs, open_days, plan_ingestion
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse, WarehouseBusy

HASH_CHARS = 16
# How far back a day ahead's run builds labels a failed serving run left unbuilt; failures on
# more days in a row than that are an incident to backfill (docs/oncall.md, refused file).
HEAL_DAYS = 7


# Kept by the code server between ticks: each tick hashes only new or rewritten files.
LANDING_DIGESTS = FileDigests()


def scan_landing_zone(landing: LandingZone) -> dict[str, str]:
    """{"<dataset>/<day>": content hash} for every daily file in the landing zone."""
    found = {}
    for dataset in DAILY_DATASETS:
        folder = landing.dataset_dir(dataset)
        if not folder.is_dir():
            continue
        # names and os.scandir's entries, not Path objects: at ten years (10,900 files) making,
        # sorting and stat-ing Path objects was most of the tick
        with os.scandir(folder) as entries:
            files = sorted((entry.name, entry) for entry in entries
                           if entry.name.endswith(".csv") and entry.is_file())
        for name, entry in files:
            found[f"{dataset}/{name.removesuffix('.csv')}"] = LANDING_DIGESTS.digest(
                entry.path, entry.stat())[:HASH_CHARS]
    return found


def build_new_data_sensor(daily_chain: list[AssetKey], models: list[ModelKeys]):
    """``daily_chain``: the daily assets between raw/* and the predictions (the dbt models);
    ``models``: each model whose predictions (and shadow predictions) a served day's run
    carries, once it has a champion."""
    feeds = [raw_key(name) for name in DAILY_DATASETS]
    served = [key for model in models for key in (model.predictions, model.shadow_predictions)]

    @sensor(
        name="new_data",
        asset_selection=[*feeds, *daily_chain, *served],
        # Every loop of the daemon's sensor loop (it wakes every 5 s): an interval of 5 s
        # skipped every other loop whenever the loop ran a little early (the landing's runs
        # were queued 4-9 s after the files landed, make bench).
        minimum_interval_seconds=1,
        default_status=DefaultSensorStatus.RUNNING,
        description="Requests raw/* for each day whose landing file is new or changed; a day"
                    " ahead in one run from its schedule to its features and predictions.",
    )
    def new_data(context: SensorEvaluationContext, landing: LandingZone,
                 warehouse: DuckDBWarehouse):
        if context.cursor:
            seen = json.loads(context.cursor)
        else:
            try:
                ingested = ingested_hashes(warehouse, wait_seconds=5)
            except (WarehouseBusy, duckdb.IOException):  # a run holds the file: retry next tick
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
            return SkipReason(f"no new or changed files to ingest among {len(found)} in"
                              f" {landing.path}"
                              + (f"; waiting: {', '.join(plan.waiting)}" if plan.waiting else ""))
        context.log.info(f"{len(plan.days)} day(s) to ingest: {[d.day for d in plan.days]}")
        serving = [key for model in models if champion_version(context.instance, model)
                   for key in (model.predictions, model.shadow_predictions)]
        runs = landing_runs(plan.days, open_days(set(scheduled), found),
                            unlabeled_days(context.instance, min(d.day for d in plan.days)))
        batch = hashlib.sha256(" ".join(run.run_key for run in runs).encode()).hexdigest()[:12]
        return [_run_request(run, daily_chain + serving, batch, landing) for run in runs]

    return new_data


def unlabeled_days(instance, before: str) -> set[str]:
    """The HEAL_DAYS days before ``before`` whose outcomes were ingested after their labels were
    last built (or that have none): a serving run that was to build them failed."""
    days = [(date.fromisoformat(before) - timedelta(days=n)).isoformat()
            for n in range(1, HEAL_DAYS + 1)]
    outcomes = latest_storage_ids(instance, raw_key("outcomes"), days)
    labels = latest_storage_ids(instance, LABELS, days)
    return {day for day, ingested in outcomes.items() if labels.get(day, -1) < ingested}


def _run_request(run: LandingRun, chain: list[AssetKey], batch: str,
                 landing: LandingZone) -> RunRequest:
    files = [landing.file_for(dataset, date.fromisoformat(run.last)) for dataset in run.datasets]
    landed = max(path.stat().st_mtime for path in files)  # found by this tick's scan
    tags = {FILES_TAG: ",".join(f"{path.parent.name}/{path.name}" for path in files),
            LANDED_AT_TAG: f"{landed:.3f}", LANDING_BATCH_TAG: batch,
            **({WAITS_TAG: "true"} if run.serves else {})}
    selection = [raw_key(dataset) for dataset in run.datasets] + (chain if run.serves else [])
    if run.first == run.last:
        return RunRequest(run_key=run.run_key, partition_key=run.last,
                          asset_selection=selection, tags=tags)
    return RunRequest(run_key=run.run_key, asset_selection=selection, tags={
        **tags, RANGE_START_TAG: run.first,
        RANGE_END_TAG: run.last})
