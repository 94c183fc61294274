"""The service level indicators' events, read from what the platform records: the Dagster
instance's runs and materializations, the landing zone's quarantine, the artifact probes.

The assets (assets/monitor/service_levels.py), the alert sensor (sensors/service_levels.py)
and the Prometheus endpoint (assets/monitor/prometheus.py) read the same events through
``indicator_events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from assets.ingest.landing_batch import LANDED_AT_TAG, WAITS_TAG
from assets.keys import MONITORING_GROUP, ModelKeys, raw_key
from assets.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from core.ingest.contract import DAILY_DATASETS
from core.monitor import indicators
from core.monitor.service_levels import Event, Objective
from core.train.cost import COSTS

SERVING_ARTIFACTS = AssetKey([MONITORING_GROUP, "serving_artifacts"])
SERVICE_LEVELS = AssetKey([MONITORING_GROUP, "service_levels"])
REPRODUCIBILITY = AssetKey([MONITORING_GROUP, "reproducibility"])
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
            assets or frozenset([run.job_name]), partitions, run_link(ui_url, run.run_id),
            _utc(record.start_time) if record.start_time else None))
    return outcomes


def left_missing(instance: DagsterInstance, failed: indicators.RunOutcome
                 ) -> set[tuple[str, str]]:
    """The (asset, partition) pairs ``failed`` was to build that no run had built before it
    started: what its failure left missing."""
    missing = set()
    by_asset: dict[str, list[str]] = {}
    for asset, partition in indicators.built_by(failed):
        by_asset.setdefault(asset, []).append(partition)
    for asset, partitions in by_asset.items():
        keyed = [p for p in partitions if p]
        records_filter = AssetRecordsFilter(
            asset_key=AssetKey.from_user_string(asset), asset_partitions=keyed or None,
            before_timestamp=failed.started_at.timestamp() if failed.started_at else None)
        built = set()
        for record in _records(instance, records_filter):
            built.add(record.partition_key or "")
            if built >= set(partitions):
                break
        missing |= {(asset, p) for p in partitions if p not in built}
    return missing


def _materializations(instance: DagsterInstance, key: AssetKey, since: datetime):
    return _records(instance, AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp()))


def _records(instance: DagsterInstance, records_filter: AssetRecordsFilter):
    """The materialization records ``records_filter`` selects, oldest first, a page at a time."""
    cursor = None
    while True:
        result = instance.fetch_materializations(records_filter, limit=PAGE, cursor=cursor,
                                                 ascending=True)
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


def _probes(instance: DagsterInstance, key: AssetKey, since: datetime, ui_url: str
            ) -> list[indicators.Probe]:
    """The probes recorded in the ``probes`` metadata of ``key``'s materializations."""
    probes = []
    for record in _materializations(instance, key, since):
        metadata = record.asset_materialization.metadata
        for probe in metadata["probes"].value if "probes" in metadata else []:
            probes.append(indicators.Probe(
                _utc(record.timestamp), probe["model"], probe["version"], not probe["reason"],
                probe["reason"], run_link(ui_url, record.run_id)))
    return probes


def serving_runs(instance: DagsterInstance, since: datetime, sources: "Sources"
                 ) -> list[indicators.ServingRun]:
    """The landing runs that served a day (assets/ingest/landing_batch.WAITS_TAG), each with
    when its files landed."""
    runs = []
    for record in instance.get_run_records(RunsFilter(
            statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE], updated_after=since,
            tags={WAITS_TAG: "true"})):
        if record.end_time is None:
            continue
        run = record.dagster_run
        runs.append(indicators.ServingRun(
            run.run_id, _utc(record.end_time), run.status == DagsterRunStatus.SUCCESS,
            _landed_at(run.tags),
            run.tags.get(PARTITION_TAG) or run.tags.get(RANGE_END_TAG, "?"),
            run_link(sources.ui_url, run.run_id)))
    return runs


def _landed_at(tags: dict) -> datetime | None:
    """When the run's files landed, as the new-data sensor saw them when it requested the run
    (a file re-sent later does not move it)."""
    return _utc(float(tags[LANDED_AT_TAG])) if LANDED_AT_TAG in tags else None


def _per_model(instance: DagsterInstance, since: datetime, sources: "Sources", asset: str):
    """(model, record, metadata) for each materialization of each model's ``asset`` (an
    attribute of assets/keys.ModelKeys) since ``since``."""
    for name in sources.model_names:
        for record in _materializations(instance, getattr(ModelKeys(name), asset), since):
            yield name, record, record.asset_materialization.metadata


def training_costs(instance: DagsterInstance, since: datetime, sources: "Sources"
                   ) -> list[indicators.TrainingCost]:
    return [indicators.TrainingCost(
        _utc(record.timestamp), name,
        str(metadata["version"].value) if "version" in metadata else "?",
        {cost: metadata[cost].value for cost in COSTS if cost in metadata},
        run_link(sources.ui_url, record.run_id))
        for name, record, metadata in _per_model(instance, since, sources, "model")]


def quality_readings(instance: DagsterInstance, since: datetime, sources: "Sources"
                     ) -> list[indicators.QualityReading]:
    readings = []
    for name, record, metadata in _per_model(instance, since, sources, "drift_report"):
        metric, higher_is_better = sources.gate_metrics[name]
        holdout = metadata.get(f"champion_holdout_{metric}")
        realized = metadata.get(f"realized_{metric}_interval")
        if holdout is None or realized is None or holdout.value is None:
            continue
        readings.append(indicators.QualityReading(
            _utc(record.timestamp), name, str(metadata["champion_version"].value), metric,
            higher_is_better, float(holdout.value), realized.value,
            run_link(sources.ui_url, record.run_id)))
    return readings


def drift_reports(instance: DagsterInstance, since: datetime, sources: "Sources"
                  ) -> list[indicators.DriftReport]:
    return [indicators.DriftReport(
        date.fromisoformat(str(metadata["day"].value)), name,
        bool(metadata["feature_drift"].value), bool(metadata["decay"].value))
        for name, record, metadata in _per_model(instance, since, sources, "drift_report")
        if "day" in metadata]


@dataclass(frozen=True)
class Sources:
    """Where the indicators read from, besides the instance."""
    quarantine_dir: Path
    ui_url: str
    gate_metrics: dict[str, tuple[str, bool]]  # model -> its gate metric, higher is better

    @property
    def model_names(self) -> list[str]:
        return sorted(self.gate_metrics)

    @classmethod
    def of(cls, settings, specs) -> "Sources":
        return cls(settings.quarantine_dir, settings.ui_url,
                   {s.name: (s.gate.metric, s.gate.higher_is_better) for s in specs})


def indicator_events(instance: DagsterInstance, objectives: list[Objective], now: datetime,
                     sources: Sources) -> dict[str, list[Event]]:
    """Each objective's events over its longest window (its budget's or a rule's), by id."""
    unknown = {o.id for o in objectives} - set(READERS)
    if unknown:
        raise ValueError(f"no indicator is computed for objective(s) {sorted(unknown)}:"
                         f" the indicators are {sorted(READERS)}")
    events = {}
    for objective in objectives:
        since = now - max(objective.window, *(r.long_window for r in objective.rules))
        found = READERS[objective.id](instance, objective, since, now, sources)
        events[objective.id] = [e for e in found if since <= e.at <= now]
    return events


def _recoveries(instance, objective, since, now, sources):
    within = objective.within or timedelta(hours=4)
    # failures up to `within` before the window can recover (or not) inside it
    runs = run_outcomes(instance, since - within, sources.ui_url)
    missing = {run.run_id: left_missing(instance, run) for run in runs if not run.succeeded}
    return indicators.time_to_recover(runs, within, now, missing)


READERS = {  # objective id -> (instance, objective, since, now, sources) -> events
    "M1": lambda instance, objective, since, now, sources: indicators.run_success(
        run_outcomes(instance, since, sources.ui_url)),
    "M2": lambda instance, objective, since, now, sources: indicators.landing_to_served(
        serving_runs(instance, since, sources), objective.within or timedelta(hours=1)),
    "M3": lambda instance, objective, since, now, sources: indicators.landed_files_accepted(
        file_verdicts(instance, sources.quarantine_dir, since, sources.ui_url)),
    "M4": lambda instance, objective, since, now, sources: indicators.quality_gap(
        quality_readings(instance, since, sources), objective.threshold or 0.01),
    "M5": _recoveries,
    "M6": lambda instance, objective, since, now, sources: indicators.training_within_budget(
        training_costs(instance, since, sources), objective.budgets),
    "M7": lambda instance, objective, since, now, sources: indicators.probes_passed(
        _probes(instance, SERVING_ARTIFACTS, since, sources.ui_url)),
    "M8": lambda instance, objective, since, now, sources: indicators.probes_passed(
        _probes(instance, REPRODUCIBILITY, since, sources.ui_url)),
}
