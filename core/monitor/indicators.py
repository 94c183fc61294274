"""The pipeline's service level indicators as events (core/monitor/service_levels.py), from
plain records of what happened: runs that ended, landed files judged, serving artifacts probed.

Dagster's records are turned into these plain ones in assets/monitor/indicators.py; here is
only what each indicator counts as good or bad, and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.monitor.service_levels import Event


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    ended_at: datetime
    succeeded: bool
    assets: frozenset[str]  # the asset keys the run was to materialize ("" for none)
    partitions: tuple[str, str] | None  # first and last partition key, None if unpartitioned
    link: str = ""
    started_at: datetime | None = None


def run_success(runs: list[RunOutcome]) -> list[Event]:
    """M1: every run that ended; good when it succeeded."""
    return [Event(r.ended_at, r.succeeded, f"run {r.run_id[:8]}", r.link) for r in runs]


def built_by(run: RunOutcome) -> set[tuple[str, str]]:
    """The (asset, partition) pairs a run was to build: each asset for each day of its range
    ("" for an unpartitioned run)."""
    if run.partitions is None:
        return {(asset, "") for asset in run.assets}
    first, last = (date.fromisoformat(day) for day in run.partitions)
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    return {(asset, day) for asset in run.assets for day in days}


def time_to_recover(runs: list[RunOutcome], within: timedelta, now: datetime,
                    left_missing: dict[str, set[tuple[str, str]]] | None = None) -> list[Event]:
    """M5: what a failed run left unbuilt is built by later successful runs within ``within``.

    What a failure left unbuilt: the pairs of ``built_by`` that did not exist before it
    (``left_missing``, by run id: a range that re-reads days already built, as a serving run
    does for the days before the one it serves, leaves those days as they were); every pair
    when it left nothing missing (a failed rebuild must still succeed) or when not known. Later
    runs recover it together: the landing after a refused file and the labels' run may share
    the work. The event is known at the recovery (good) or when ``within`` has passed without
    one (bad, at the failure + ``within``); a failure still inside its time is no event yet.
    """
    ordered = sorted(runs, key=lambda r: r.ended_at)
    events = []
    for i, failed in enumerate(ordered):
        if failed.succeeded:
            continue
        unbuilt = (left_missing or {}).get(failed.run_id) or built_by(failed)
        recovered_at = None
        for later in ordered[i + 1:]:
            if later.succeeded:
                unbuilt = unbuilt - built_by(later)
                if not unbuilt:
                    recovered_at = later.ended_at
                    break
        subject = f"run {failed.run_id[:8]} ({_describe(failed)})"
        if recovered_at is not None and recovered_at - failed.ended_at <= within:
            events.append(Event(recovered_at, True, subject, failed.link))
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
class Probe:
    """A check of one model version's artifact: M7 (it loads, its hash) or M8 (retrained on
    its stored training set, the same bytes)."""
    at: datetime
    model: str
    version: str
    passed: bool
    reason: str  # why not, or "" when it passed
    link: str = ""


def probes_passed(probes: list[Probe]) -> list[Event]:
    """M7 and M8: each probe; good when it passed."""
    return [Event(p.at, p.passed, f"{p.model} {p.version}" + (f": {p.reason}" if p.reason else ""),
                  p.link) for p in probes]


@dataclass(frozen=True)
class ServingRun:
    """A landing's run that served its day (sensors/new_data.py), and when its files landed."""
    run_id: str
    ended_at: datetime
    succeeded: bool
    landed_at: datetime | None  # the newest of its files; None when not recorded
    day: str
    link: str = ""

    @property
    def latency(self) -> timedelta | None:
        return self.ended_at - self.landed_at if self.landed_at else None


def landing_to_served(runs: list[ServingRun], within: timedelta) -> list[Event]:
    """M2: a day's files landing -> its predictions served; good when the run succeeded within
    ``within`` of the last file landing."""
    return [Event(r.ended_at, r.succeeded and r.latency is not None and r.latency <= within,
                  f"{r.day} served " + (f"{r.latency.total_seconds():.0f} s after landing"
                                        if r.latency is not None else "(landing time not recorded)")
                  + ("" if r.succeeded else ", run failed"), r.link) for r in runs]


def latency_summary(runs: list[ServingRun]) -> dict[str, float] | None:
    """Mean and 95th percentile of the successful runs' latencies, in seconds."""
    seconds = sorted(r.latency.total_seconds() for r in runs
                     if r.succeeded and r.latency is not None)
    if not seconds:
        return None
    p95 = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
    return {"mean_seconds": sum(seconds) / len(seconds), "p95_seconds": p95, "days": len(seconds)}


@dataclass(frozen=True)
class TrainingCost:
    at: datetime
    model: str
    version: str
    cost: dict[str, float]  # cpu_seconds, peak_memory_mb
    link: str = ""


def training_within_budget(costs: list[TrainingCost], budgets: dict[str, dict[str, float]]
                           ) -> list[Event]:
    """M6: each training; good when each of its costs is within the model's budget
    (``budgets[model]``, else ``budgets["default"]``). A cost not recorded counts as over."""
    events = []
    for c in costs:
        budget = budgets.get(c.model, budgets.get("default", {}))
        over = [f"{name} {c.cost.get(name, float('nan')):.0f} > {limit:g}"
                for name, limit in budget.items() if not c.cost.get(name, float("inf")) <= limit]
        events.append(Event(c.at, not over, f"{c.model} {c.version}"
                            + (f": {', '.join(over)}" if over else ""), c.link))
    return events


@dataclass(frozen=True)
class QualityReading:
    """A drift report's realized gate metric of the serving version, with its interval, and the
    version's holdout value."""
    at: datetime
    model: str
    version: str
    metric: str
    higher_is_better: bool
    holdout: float
    realized: dict  # value, low, high (core/evaluate/uncertainty.Interval.as_dict)
    link: str = ""


def quality_gap(readings: list[QualityReading], max_gap: float) -> list[Event]:
    """M4: the serving version's realized metric against its holdout; bad only when even the
    interval's better end is worse than the holdout by more than ``max_gap`` (relative): a gap
    inside the noise of the days judged is no breach."""
    events = []
    for r in readings:
        if not r.realized or r.holdout in (None, 0):
            continue
        best = r.realized["high"] if r.higher_is_better else r.realized["low"]
        worse_by = (r.holdout - best if r.higher_is_better else best - r.holdout) / abs(r.holdout)
        events.append(Event(
            r.at, worse_by <= max_gap,
            f"{r.model} {r.version}: realized {r.metric} {r.realized['value']:.3f}"
            f" [{r.realized['low']:.3f}, {r.realized['high']:.3f}] against {r.holdout:.3f}"
            " on its holdout", r.link))
    return events


@dataclass(frozen=True)
class DriftReport:
    day: date  # the day reported on
    model: str
    feature_drift: bool
    decay: bool


def drift_alert_rate(reports: list[DriftReport], follow_days: int = 14) -> dict[str, int]:
    """M10, reported rather than held to a target: days with feature drift, and how many of
    them a decay of the same model followed within ``follow_days`` (a drift alert that was
    worth acting on)."""
    drifted = [r for r in reports if r.feature_drift]
    decays = {(r.model, r.day) for r in reports if r.decay}
    followed = sum(any((r.model, r.day + timedelta(days=k)) in decays
                       for k in range(follow_days + 1)) for r in drifted)
    return {"drift_alerts": len(drifted), "followed_by_decay": followed}
