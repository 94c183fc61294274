"""Data-quality checks on raw/*: each can fail, with the severity the issue asks for."""

from datetime import date

import pytest
from dagster import AssetCheckSeverity

from assets.ingest.quality import quality_check_results
from assets.ingest.raw import ingest_days
from core.ingest.contract import OUTCOMES, SCHEDULE, landing_path
from core.ingest.upstream import days_between, land_days
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse

HISTORY = (date(2013, 1, 1), date(2013, 1, 31))
DAY = date(2013, 2, 1)


@pytest.fixture
def month(tmp_path):
    land_days(tmp_path / "landing", HISTORY[0], DAY, datasets=("schedule", "outcomes"))
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    ingest_days(warehouse, landing, SCHEDULE, days_between(HISTORY[0], DAY))
    ingest_days(warehouse, landing, OUTCOMES, days_between(*HISTORY))
    return landing, warehouse


def _by_name(checks):
    return {check.check_name: check for check in checks}


def test_a_normal_day_passes_every_check(month):
    landing, warehouse = month
    _, checks = ingest_days(warehouse, landing, OUTCOMES, [DAY])
    assert all(check.passed for check in checks), [c.metadata for c in checks]
    assert {c.check_name for c in checks} == {"row_count_in_band", "null_rates_in_band",
                                              "key_unique", "covers_schedule"}


def test_a_thin_day_warns_on_row_count(month):
    landing, warehouse = month
    path = landing_path(landing.path, "outcomes", DAY)
    path.write_text("\n".join(path.read_text().splitlines()[:101]) + "\n")  # 100 of ~900 flights

    _, checks = ingest_days(warehouse, landing, OUTCOMES, [DAY])

    row_count = _by_name(checks)["row_count_in_band"]
    assert not row_count.passed and row_count.severity == AssetCheckSeverity.WARN
    assert row_count.metadata["outside"].value["2013-02-01"]["rows"] == 100
    assert _by_name(checks)["key_unique"].passed
    # ... and most scheduled flights have no outcome: they get no label
    coverage = _by_name(checks)["covers_schedule"]
    assert not coverage.passed and coverage.severity == AssetCheckSeverity.WARN
    assert coverage.metadata["without_outcome"].value == coverage.metadata[
        "scheduled_flights"].value - 100


def test_a_day_of_mostly_missing_delays_warns_on_null_rates(month):
    landing, warehouse = month
    path = landing_path(landing.path, "outcomes", DAY)
    header, *rows = path.read_text().splitlines()
    arr_delay = header.split(",").index("arr_delay")

    def blank(row: str) -> str:
        fields = row.split(",")
        fields[arr_delay] = "NA"
        return ",".join(fields)

    rows = [blank(row) if i % 3 else row for i, row in enumerate(rows)]  # two thirds missing
    path.write_text("\n".join([header, *rows]) + "\n")

    _, checks = ingest_days(warehouse, landing, OUTCOMES, [DAY])

    nulls = _by_name(checks)["null_rates_in_band"]
    assert not nulls.passed and nulls.severity == AssetCheckSeverity.WARN
    assert list(nulls.metadata["above_limit"].value) == ["arr_delay"]


def test_duplicated_keys_fail_the_blocking_error_check(month):
    _, warehouse = month
    with warehouse.transaction() as con:
        con.execute("insert into raw.schedule select * from raw.schedule"
                    " where partition_date = '2013-01-15' limit 3")
        key_unique = _by_name(quality_check_results(con, SCHEDULE, date(2013, 1, 15),
                                                    date(2013, 1, 15)))["key_unique"]
    assert not key_unique.passed
    assert key_unique.severity == AssetCheckSeverity.ERROR
    assert key_unique.metadata["duplicated_keys"].value == 3


def test_the_first_days_of_the_year_are_not_measured_against_days_never_delivered(tmp_path):
    land_days(tmp_path / "landing", date(2013, 1, 1), date(2013, 1, 10), datasets=("schedule",))
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    _, checks = ingest_days(warehouse, landing, SCHEDULE,
                            days_between(date(2013, 1, 1), date(2013, 1, 10)))
    row_count = _by_name(checks)["row_count_in_band"]
    assert row_count.passed, row_count.metadata
