"""Deliveries against what is stored (core/deliveries.py): outcomes after their schedule and only
for scheduled flights; a schedule frozen once its day was served; every decision recorded."""

from datetime import date, datetime
from pathlib import Path

import pytest

from assets.ingest.raw import ingest_days
from assets.ml.predictions import predictions_ddl
from core.contract import OUTCOMES, SCHEDULE, LandingFileError
from core.deliveries import DeliveryOutOfOrder, plan_schedule_delivery
from core.simulator import land_days
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse
from tests.conftest import faults

DAY = date(2013, 3, 1)
FILES = {DAY: Path("landing/schedule/2013-03-01.csv")}


# --- the rule, called directly ---------------------------------------------------------------

def test_a_first_schedule_is_new_and_the_same_one_again_changes_nothing():
    assert plan_schedule_delivery(FILES, {DAY: "aaa"}, {}, {})[DAY][0] == "new"
    assert plan_schedule_delivery(FILES, {DAY: "aaa"}, {DAY: "aaa"}, {DAY: "served"})[DAY][0] \
        == "identical"


def test_a_changed_schedule_replaces_an_unserved_day_and_says_so():
    decision, reason = plan_schedule_delivery(FILES, {DAY: "bbb"}, {DAY: "aaa"}, {})[DAY]
    assert decision == "replaced" and "sha256 aaa" in reason


def test_a_changed_schedule_of_a_served_day_is_refused_naming_what_was_served():
    served = {DAY: "912 predictions by v1, served at 2013-02-28 23:00 UTC"}
    with pytest.raises(LandingFileError, match="changed after its predictions were served") as error:
        plan_schedule_delivery(FILES, {DAY: "bbb"}, {DAY: "aaa"}, served)
    assert "912 predictions by v1" in str(error.value) and error.value.path == FILES[DAY]


# --- ingest against a real warehouse ---------------------------------------------------------

@pytest.fixture
def zone(tmp_path):
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    land_days(tmp_path / "landing", DAY, DAY, datasets=("schedule", "outcomes"))
    return landing, DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


def rows(warehouse, table: str) -> list[tuple]:
    """The stored rows ([] when the table was never created: the write rolled back)."""
    if not warehouse.table_exists(*table.split(".")):
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
