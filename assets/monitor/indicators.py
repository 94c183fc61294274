"""The service level indicators' events, read from what the platform records: the Dagster
instance's runs and materializations, the landing zone's quarantine, the artifact probes.

The asset (assets/monitor/service_levels.py), the alert sensor (sensors/service_levels.py) and
the Prometheus endpoint read the same events through ``indicator_events``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from assets.keys import MONITORING_GROUP, raw_key
from assets.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from core.ingest.contract import DAILY_DATASETS
from core.monitor import indicators
from core.monitor.service_levels import Event, Objective

SERVING_ARTIFACTS = AssetKey([MONITORING_GROUP, "serving_artifacts"])
SERVICE_LEVELS = AssetKey([MONITORING_GROUP, "service_levels"])
PAGE = 1000  # records read per call


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def run_outcomes(instance: DagsterInstance, since: datetime, ui_url: str
                 ) -> list[indicators.RunOutcome]:
    """Runs that succeeded or failed since ``since`` (a canceled run is a person's choice)."""
    records = instance.get_run_records(RunsFilter(
        statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE], updated_after=since))
    outcomes = []
    for record in records:
        if record.end_time is None or _utc(record.end_time) < since:
            continue
        run, tags = record.dagster_run, record.dagster_run.tags
        if PARTITION_TAG in tags:
            partitions = (tags[PARTITION_TAG],) * 2
        elif RANGE_START_TAG in tags:
            partitions = (tags[RANGE_START_TAG], tags[RANGE_END_TAG])
        else:
            partitions = None
        assets = frozenset(key.to_user_string() for key in run.asset_selection or ())
        outcomes.append(indicators.RunOutcome(
            run.run_id, _utc(record.end_time), run.status == DagsterRunStatus.SUCCESS,
            assets or frozenset([run.job_name]), partitions, run_link(ui_url, run.run_id)))
    return outcomes


def _materializations(instance: DagsterInstance, key: AssetKey, since: datetime):
    cursor = None
    while True:
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp()), limit=PAGE,
            cursor=cursor, ascending=True)
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor


def file_verdicts(instance: DagsterInstance, quarantine_dir: Path, since: datetime,
                  ui_url: str) -> list[indicators.FileVerdict]:
    """Each landed file's verdict: ingested (a raw partition materialized) or quarantined
    (its reason file, written by the run that rejected it)."""
    verdicts = []
    for name in DAILY_DATASETS:
        for record in _materializations(instance, raw_key(name), since):
            verdicts.append(indicators.FileVerdict(
                _utc(record.timestamp), True, f"{name} {record.partition_key}",
                run_link(ui_url, record.run_id)))
    for reason_file in sorted(Path(quarantine_dir).glob("*/*.reason.json")):
        reason = json.loads(reason_file.read_text())
        at = datetime.strptime(reason["quarantined_at"], "%Y%m%dT%H%M%S%fZ").replace(
            tzinfo=timezone.utc)
        if at >= since:
            verdicts.append(indicators.FileVerdict(
                at, False, f"{reason['file']} ({reason['rule']})",
                run_link(ui_url, reason["run_id"])))
    return verdicts


def artifact_probes(instance: DagsterInstance, since: datetime, ui_url: str
                    ) -> list[indicators.ArtifactProbe]:
    probes = []
    for record in _materializations(instance, SERVING_ARTIFACTS, since):
        metadata = record.asset_materialization.metadata
        for probe in metadata["probes"].value if "probes" in metadata else []:
            probes.append(indicators.ArtifactProbe(
                _utc(record.timestamp), probe["model"], probe["version"], not probe["reason"],
                probe["reason"], run_link(ui_url, record.run_id)))
    return probes


def indicator_events(instance: DagsterInstance, objectives: list[Objective], now: datetime,
                     quarantine_dir: Path, ui_url: str) -> dict[str, list[Event]]:
    """Each objective's events over its longest window (its budget's or a rule's), by id."""
    unknown = {o.id for o in objectives} - set(READERS)
    if unknown:
        raise ValueError(f"no indicator is computed for objective(s) {sorted(unknown)}:"
                         f" the indicators are {sorted(READERS)}")
    events = {}
    for objective in objectives:
        since = now - max(objective.window, *(r.long_window for r in objective.rules))
        found = READERS[objective.id](instance=instance, objective=objective, since=since,
                                      now=now, quarantine_dir=quarantine_dir, ui_url=ui_url)
        events[objective.id] = [e for e in found if since <= e.at <= now]
    return events


def _recoveries(instance, objective, since, now, ui_url, **_):
    within = objective.within or timedelta(hours=4)
    # failures up to `within` before the window can recover (or not) inside it
    return indicators.time_to_recover(run_outcomes(instance, since - within, ui_url), within, now)


READERS = {
    "M1": lambda instance, since, ui_url, **_: indicators.run_success(
        run_outcomes(instance, since, ui_url)),
    "M3": lambda instance, quarantine_dir, since, ui_url, **_: indicators.landed_files_accepted(
        file_verdicts(instance, quarantine_dir, since, ui_url)),
    "M5": _recoveries,
    "M7": lambda instance, since, ui_url, **_: indicators.serving_artifact_intact(
        artifact_probes(instance, since, ui_url)),
}
