"""The pipeline's service level indicators as events (core/monitor/service_levels.py), from
plain records of what happened: runs that ended, landed files judged, serving artifacts probed.

Dagster's records are turned into these plain ones in assets/monitor/indicators.py; here is
only what each indicator counts as good or bad, and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.monitor.service_levels import Event


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    ended_at: datetime
    succeeded: bool
    assets: frozenset[str]  # the asset keys the run was to materialize ("" for none)
    partitions: tuple[str, str] | None  # first and last partition key, None if unpartitioned
    link: str = ""


def run_success(runs: list[RunOutcome]) -> list[Event]:
    """M1: every run that ended; good when it succeeded."""
    return [Event(r.ended_at, r.succeeded, f"run {r.run_id[:8]}", r.link) for r in runs]


def _covers(later: RunOutcome, failed: RunOutcome) -> bool:
    """Whether ``later`` built what ``failed`` did not: one of its assets, all its partitions."""
    if not later.assets & failed.assets:
        return False
    if failed.partitions is None or later.partitions is None:
        return failed.partitions == later.partitions
    # partition keys are ISO dates: their order is the text's
    return later.partitions[0] <= failed.partitions[0] and failed.partitions[1] <= later.partitions[1]


def time_to_recover(runs: list[RunOutcome], within: timedelta, now: datetime) -> list[Event]:
    """M5: a failed run's assets and partitions succeed again within ``within``.

    The event is known at the recovery (good) or when ``within`` has passed without one (bad,
    at the failure + ``within``); a failure still inside its time to recover is no event yet.
    """
    ordered = sorted(runs, key=lambda r: r.ended_at)
    events = []
    for i, failed in enumerate(ordered):
        if failed.succeeded:
            continue
        recovery = next((later for later in ordered[i + 1:]
                         if later.succeeded and _covers(later, failed)), None)
        subject = f"run {failed.run_id[:8]} ({_describe(failed)})"
        if recovery is not None and recovery.ended_at - failed.ended_at <= within:
            events.append(Event(recovery.ended_at, True, subject, failed.link))
        elif failed.ended_at + within <= now:
            events.append(Event(failed.ended_at + within, False, subject, failed.link))
    return events


def _describe(run: RunOutcome) -> str:
    where = "" if run.partitions is None else (
        run.partitions[0] if run.partitions[0] == run.partitions[1]
        else f"{run.partitions[0]}..{run.partitions[1]}")
    names = ", ".join(sorted(run.assets))
    return f"{names} {where}".strip()


@dataclass(frozen=True)
class FileVerdict:
    at: datetime
    accepted: bool
    file: str  # dataset/day for an ingested one, the path for a quarantined one
    link: str = ""


def landed_files_accepted(verdicts: list[FileVerdict]) -> list[Event]:
    """M3: each landed file (one dataset's day); good when it was ingested."""
    return [Event(v.at, v.accepted, v.file, v.link) for v in verdicts]


@dataclass(frozen=True)
class ArtifactProbe:
    at: datetime
    model: str
    version: str
    intact: bool
    reason: str  # why not, or "" when intact
    link: str = ""


def serving_artifact_intact(probes: list[ArtifactProbe]) -> list[Event]:
    """M7: each probe of a serving model's artifact; good when it loads and has its hash."""
    return [Event(p.at, p.intact, f"{p.model} {p.version}" + (f": {p.reason}" if p.reason else ""),
                  p.link) for p in probes]
