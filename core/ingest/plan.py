"""Which days to ingest, given the landing files seen before and those found now.

The new-data sensor (sensors/new_data.py) turns each planned day into one run of raw/* for that
day; this module decides, free of Dagster, so that the rules are tested directly:

- one run per day with new or changed files, for the feeds whose files changed;
- a day's outcomes wait until its schedule is ingested (or comes in the same run): they are not
  recorded as seen, so a later look plans them again;
- a day whose schedule changed also re-ingests its outcomes, if any: they are checked against
  the schedule they belong to (and a day whose schedule was rejected gets its outcomes again
  when the corrected schedule lands);
- the run key names the day and the content of its files: the same files never run twice;
- a day ahead (its schedule alone) is one run from its landing file to its predictions
  (landing_runs), so that a landed day is served without waiting for sensor ticks in between;
  it also builds the labels a failed serving run left unbuilt, so the loop heals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class DayToIngest:
    day: str
    datasets: tuple[str, ...]
    run_key: str


@dataclass(frozen=True)
class IngestPlan:
    days: list[DayToIngest]
    seen: dict[str, str]  # the files to record as handled ("<dataset>/<day>": hash)
    waiting: list[str]  # files planned later, with why
    ignored: list[str]  # files that are no day's, with why


def plan_ingestion(seen: dict[str, str], found: dict[str, str], valid_days: set[str],
                   scheduled_days: set[str]) -> IngestPlan:
    """``seen`` and ``found`` map "<dataset>/<day>" to the file's content hash;
    ``scheduled_days`` are the days whose schedule is already ingested."""
    changed: dict[str, set[str]] = {}
    ignored, waiting = [], []
    for name, digest in sorted(found.items()):
        if seen.get(name) == digest:
            continue
        dataset, day = name.split("/")
        if day not in valid_days:
            ignored.append(f"{name}.csv (no such daily partition)")
            continue
        changed.setdefault(day, set()).add(dataset)

    days, recorded = [], dict(seen)
    for day, datasets in sorted(changed.items()):
        if "schedule" in datasets and f"outcomes/{day}" in found:
            datasets.add("outcomes")
        if "outcomes" in datasets and "schedule" not in datasets and day not in scheduled_days:
            datasets.discard("outcomes")
            waiting.append(f"outcomes/{day}.csv (waiting for the schedule of {day})")
        if not datasets:
            continue
        ordered = tuple(sorted(datasets))
        days.append(DayToIngest(
            day, ordered, f"{day}:" + ",".join(f"{d}={found[f'{d}/{day}']}" for d in ordered)))
        recorded.update({f"{d}/{day}": found[f"{d}/{day}"] for d in ordered})
    for name in ignored:
        recorded[name.split(".csv")[0]] = found[name.split(".csv")[0]]
    return IngestPlan(days, recorded, waiting, ignored)


@dataclass(frozen=True)
class LandingRun:
    """One run of a landing: the raw feeds of ``first``..``last`` to ingest, and whether the run
    carries the days' chain on to their features and predictions (``serves``)."""

    first: str
    last: str
    datasets: tuple[str, ...]
    serves: bool
    run_key: str


def landing_runs(days: list[DayToIngest], open_days: set[str] = frozenset(),
                 unlabeled_days: set[str] = frozenset()) -> list[LandingRun]:
    """The runs of the planned ``days``, in day order.

    A day whose new schedule came alone is a day ahead, to be served: its run ingests the
    schedule, builds the features and scores them, all in one run. Its features read the labels
    of the days before; the days of this landing just before it (their outcomes came with it,
    a whole backlog after a pause) are in the same run too, their schedules read again
    (unchanged), and it builds their labels before the features that read them, once their
    raw runs are done (assets/ingest/landing_batch.py). Every other day is a run of its raw feeds.

    The days just before it whose outcomes are ingested but whose labels are not built
    (``unlabeled_days``: the serving run that should have built them failed, e.g. on a refused
    schedule) are in the run too, so that the loop heals with the next landing instead of
    refusing each day after on features that miss those labels.

    Outcomes can also come after the day ahead was served (they waited for their schedule's run
    in a busy queue): that day ahead (in ``open_days``: scheduled, not flown) was scored from
    features missing them and refused by the serving-skew check. It is served again over both
    days, its features now reading the new labels.
    """
    planned = {day.day for day in days}
    runs = []
    for day in days:
        if day.datasets != ("schedule",):
            runs.append(LandingRun(day.day, day.day, day.datasets, False, day.run_key))
            ahead = _day_after(day.day)
            if "outcomes" in day.datasets and ahead in open_days and ahead not in planned:
                runs.append(LandingRun(day.day, ahead, ("schedule",), True,
                                       f"serve:{ahead}:after:{day.run_key}"))
            continue
        first = day.day
        while _day_before(first) in planned or _day_before(first) in unlabeled_days:
            first = _day_before(first)
        runs.append(LandingRun(first, day.day, ("schedule",), True, f"serve:{day.run_key}"))
    return runs


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def open_days(scheduled_days: set[str], found: dict[str, str]) -> set[str]:
    """Days whose schedule is ingested and whose outcomes have not landed: not flown yet."""
    return {day for day in scheduled_days if f"outcomes/{day}" not in found}
