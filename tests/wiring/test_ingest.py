"""Ingest against a real warehouse file (no Dagster): a rejected delivery stores nothing, an
accepted day is stored once, and the delivery rules between feeds and days hold against what is
stored (core/ingest/deliveries.py): outcomes after their schedule and only for scheduled
flights; a schedule frozen once its day was served; every decision recorded. The same path
through a Dagster run is tests/e2e/test_ingest_pipeline.py."""

from datetime import date, datetime

import duckdb
import pytest

from assets.ingest import raw
from assets.ingest.raw import ingest_days
from assets.serve.predictions import predictions_ddl
from core.ingest.contract import OUTCOMES, SCHEDULE, LandingFileError
from core.ingest.deliveries import DeliveryOutOfOrder
from core.ingest.upstream import land_days, package_day_text
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse
from tools import faults

DAY = date(2013, 3, 1)
GOOD_DAY = package_day_text("schedule", DAY).encode()


@pytest.fixture
def stored_day(tmp_path):
    """A landing zone with one real day, and a warehouse that already holds that day."""
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    land_days(tmp_path / "landing", DAY, DAY, datasets=("schedule",))
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    ingest_days(warehouse, landing, SCHEDULE, [DAY])
    return landing, warehouse


def stored_rows(warehouse: DuckDBWarehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as con:
        return con.execute("select * from raw.schedule order by all").fetchall()


def test_a_rejected_delivery_leaves_the_stored_day_as_it_was(stored_day):
    landing, warehouse = stored_day
    before = stored_rows(warehouse)
    assert len(before) == GOOD_DAY.count(b"\n") - 1
    content, problem, *_ = faults.bad_landing_files(GOOD_DAY)["duplicate rows"]
    landing.file_for("schedule", DAY).write_bytes(content)
    with pytest.raises(LandingFileError, match=problem):
        ingest_days(warehouse, landing, SCHEDULE, [DAY])
    assert stored_rows(warehouse) == before


def test_ingest_is_idempotent(stored_day):
    landing, warehouse = stored_day
    before = stored_rows(warehouse)
    ingest_days(warehouse, landing, SCHEDULE, [DAY])
    assert stored_rows(warehouse) == before
    with duckdb.connect(warehouse.path, read_only=True) as con:
        assert con.execute("select count(*) from raw.ingest_log").fetchone()[0] == 1


def test_a_range_is_read_in_chunks_and_one_bad_file_late_in_it_stores_nothing(
        tmp_path, monkeypatch):
    """A backfill reads CHUNK_DAYS files at a time, all in one transaction: a bad file in its
    last chunk leaves none of the range's days behind; the good range stores every day."""
    monkeypatch.setattr(raw, "CHUNK_DAYS", 2)
    days = [date(2013, 2, d) for d in range(25, 29)] + [DAY]  # the bad file: DAY's
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    land_days(tmp_path / "landing", days[0], days[-1], datasets=("schedule",))
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    good = landing.file_for("schedule", days[-1]).read_bytes()
    content, problem, *_ = faults.bad_landing_files(good)["duplicate rows"]
    landing.file_for("schedule", days[-1]).write_bytes(content)
    with pytest.raises(LandingFileError, match=problem):
        ingest_days(warehouse, landing, SCHEDULE, days)
    assert rows(warehouse, "raw.schedule") == []

    landing.file_for("schedule", days[-1]).write_bytes(good)
    metadata, _ = ingest_days(warehouse, landing, SCHEDULE, days)
    with warehouse.connect(read_only=True) as con:
        per_day = dict(con.execute(
            "select partition_date, count(*) from raw.schedule group by 1").fetchall())
    expected = {day: package_day_text("schedule", day).count("\n") - 1 for day in days}
    assert per_day == expected
    assert metadata["dagster/row_count"] == sum(expected.values())


@pytest.fixture
def zone(tmp_path):
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    land_days(tmp_path / "landing", DAY, DAY, datasets=("schedule", "outcomes"))
    return landing, DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


def rows(warehouse, table: str) -> list[tuple]:
    """The stored rows ([] when the table was never created: the write rolled back)."""
    if not warehouse.table_exists(table):
        return []
    with warehouse.connect(read_only=True) as con:
        return con.execute(f"select * exclude (source_file) from {table} order by all").fetchall()


def events(warehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as con:
        return con.execute("select dataset, decision, previous_sha256 is not null"
                           " from raw.ingest_events order by ingested_at").fetchall()


def test_outcomes_before_their_schedule_wait_and_store_nothing(zone):
    landing, warehouse = zone
    with pytest.raises(DeliveryOutOfOrder, match="no schedule has landed for 2013-03-01"):
        ingest_days(warehouse, landing, OUTCOMES, [DAY])
    assert rows(warehouse, "raw.outcomes") == []


def test_an_outcome_for_a_flight_never_scheduled_is_rejected_with_its_line(zone):
    landing, warehouse = zone
    ingest_days(warehouse, landing, SCHEDULE, [DAY])
    path = landing.file_for("outcomes", DAY)
    path.write_bytes(faults.replace_first_row(path.read_bytes(), b"2013,3,1,B6,11,", b"2013,3,1,B6,9999,"))
    with pytest.raises(LandingFileError, match="never scheduled") as raised:
        ingest_days(warehouse, landing, OUTCOMES, [DAY])
    assert raised.value.line == 2 and raised.value.column == "carrier, flight, origin"
    assert "9999" in str(raised.value)
    assert rows(warehouse, "raw.outcomes") == []


def test_a_schedule_delivered_twice_is_replaced_before_the_day_is_served(zone):
    landing, warehouse = zone
    ingest_days(warehouse, landing, SCHEDULE, [DAY])
    ingest_days(warehouse, landing, SCHEDULE, [DAY])  # the same file again
    path = landing.file_for("schedule", DAY)
    path.write_bytes(faults.replace_first_row(path.read_bytes(), b",JFK,FLL,", b",JFK,MCO,"))
    ingest_days(warehouse, landing, SCHEDULE, [DAY])
    assert events(warehouse) == [("schedule", "new", False), ("schedule", "identical", True),
                                 ("schedule", "replaced", True)]
    assert ("MCO",) in {(row[7],) for row in rows(warehouse, "raw.schedule")}


def test_a_changed_schedule_of_a_served_day_is_refused_and_nothing_changes(zone):
    landing, warehouse = zone
    ingest_days(warehouse, landing, SCHEDULE, [DAY])
    with warehouse.transaction() as con:  # the day was served
        con.execute("create schema if not exists ml")
        con.execute(predictions_ddl("ml.not_on_time_predictions"))
        con.execute("insert into ml.not_on_time_predictions values"
                    " ('x', ?, 'v1', 0.2, false, false, ?)", [DAY, datetime(2013, 2, 28, 23)])
    before = rows(warehouse, "raw.schedule")
    path = landing.file_for("schedule", DAY)
    path.write_bytes(faults.replace_first_row(path.read_bytes(), b",JFK,FLL,", b",JFK,MCO,"))
    with pytest.raises(LandingFileError, match="1 predictions by v1"):
        ingest_days(warehouse, landing, SCHEDULE, [DAY])
    assert rows(warehouse, "raw.schedule") == before
    assert [decision for _, decision, _ in events(warehouse)] == ["new"]


