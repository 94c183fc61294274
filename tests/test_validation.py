"""The landing contract: every kind of bad file is rejected before a write, with file, line,
column and rule in the message; anything accepted is stored exactly as the file says.

These run ingestion (resources/validation.py + assets/raw.py:ingest_days) against a real DuckDB
file without Dagster; tests/test_pipeline.py covers the same path through a Dagster run.
"""

import csv
import io
from datetime import date, datetime

import duckdb
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from assets.raw import ingest_days
from resources.landing import (
    FLIGHTS,
    WEATHER,
    LandingFileError,
    LandingZone,
    land_days,
    landing_path,
)
from resources.validation import read_landing_files
from resources.warehouse import DuckDBWarehouse
from tests.faults import BAD_KINDS, bad_landing_files, replace_first_row

DAY = date(2013, 3, 1)


@pytest.fixture(scope="module")
def good_day(tmp_path_factory) -> bytes:
    landing = tmp_path_factory.mktemp("good")
    land_days(landing, DAY, DAY)
    return landing_path(landing, "flights", DAY).read_bytes()


@pytest.fixture
def zone(tmp_path):
    """A landing zone with one real day, and a warehouse that already holds that day."""
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    land_days(tmp_path / "landing", DAY, DAY)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    ingest_days(warehouse, landing, FLIGHTS, [DAY])
    return landing, warehouse


def stored_rows(warehouse: DuckDBWarehouse) -> list[tuple]:
    with warehouse.connect(read_only=True) as con:
        return con.execute("select * from raw.flights order by all").fetchall()




@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_is_rejected_with_file_line_column_and_rule(zone, good_day, kind):
    landing, warehouse = zone
    before = stored_rows(warehouse)
    content, problem, line, column = bad_landing_files(good_day)[kind]
    path = landing.file_for("flights", DAY)
    path.write_bytes(content)

    with pytest.raises(LandingFileError) as raised:
        ingest_days(warehouse, landing, FLIGHTS, [DAY])

    error = raised.value
    assert error.path == path and str(path) in str(error)
    assert problem in str(error)
    if line is not None:
        assert error.line == line and f"line {line}" in str(error)
    if column is not None:
        assert error.column == column and f"column {column}" in str(error)
    assert stored_rows(warehouse) == before


def test_missing_file_is_rejected(zone):
    landing, warehouse = zone
    before = stored_rows(warehouse)
    landing.file_for("flights", DAY).unlink()
    with pytest.raises(LandingFileError, match="missing: no file was delivered"):
        ingest_days(warehouse, landing, FLIGHTS, [DAY])
    assert stored_rows(warehouse) == before


def test_quarantine_moves_the_file_aside_with_its_reason(zone, good_day):
    landing, _ = zone
    path = landing.file_for("flights", DAY)
    path.write_bytes(replace_first_row(good_day, b"2013,3,1,", b"2013,13,1,"))
    with pytest.raises(LandingFileError) as raised:
        read_landing_files(FLIGHTS, [path])

    moved = landing.quarantine("flights", raised.value, run_id="test-run")

    assert not path.exists()
    assert moved.read_bytes().startswith(b"year,month,day")
    reason = moved.with_name(moved.name + ".reason.json").read_text()
    for fact in ('"line": 2', '"column": "month"', "between 1 and 12", '"run_id": "test-run"'):
        assert fact in reason


def test_weather_day_without_rows_is_accepted(tmp_path):
    # The source has no weather for 2013-12-31: a real, header-only delivery.
    land_days(tmp_path, date(2013, 12, 31), date(2013, 12, 31), datasets=("weather",))
    table = read_landing_files(WEATHER, [landing_path(tmp_path, "weather", date(2013, 12, 31))])
    assert table.num_rows == 0


# --- property: any mutation of a good file is stored exactly or rejected cleanly --------------

SMALL_ROWS = 12  # a dozen real rows keep each example fast


def _expected_rows(content: bytes) -> list[tuple]:
    """What the file says, parsed independently with the csv module and the contract's types."""
    text = content.decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    rows = []
    for fields in reader:
        if not fields:
            continue
        values = []
        for (_, sql_type), field in zip(FLIGHTS.columns.items(), fields, strict=True):
            if field in ("NA", ""):
                values.append(None)
            elif sql_type == "INTEGER":
                values.append(int(field))
            elif sql_type == "DOUBLE":
                values.append(float(field))
            elif sql_type == "TIMESTAMPTZ":
                values.append(datetime.fromisoformat(field))
            else:
                values.append(field)
        rows.append(tuple(values))
    return sorted(rows, key=repr)


def _stored_day(warehouse) -> list[tuple]:
    columns = ", ".join(FLIGHTS.columns)
    with warehouse.connect(read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        rows = con.execute(f"select {columns} from raw.flights where partition_date = ?", [DAY]).fetchall()
    return sorted(rows, key=repr)


FIELD_VALUES = st.one_of(
    st.sampled_from(["", "NA", "0", "-1", "2400", "2360", "13", "99999999999", "1.5", "1e3", "nan",
                     "inf", " 7", "B6", "JFK", "x,y", '"', "2013-03-01T05:00:00Z", "é"]),
    st.text(max_size=6),
)


@st.composite
def mutations(draw, good: bytes) -> bytes:
    lines = good.split(b"\n")
    kind = draw(st.sampled_from(["field", "bytes", "truncate", "drop line", "repeat line", "insert"]))
    row = draw(st.integers(min_value=0, max_value=len(lines) - 2))
    if kind == "field":
        fields = lines[row].split(b",")
        at = draw(st.integers(min_value=0, max_value=len(fields) - 1))
        fields[at] = draw(FIELD_VALUES).encode("utf-8")
        lines[row] = b",".join(fields)
        return b"\n".join(lines)
    if kind == "bytes":
        at = draw(st.integers(min_value=0, max_value=len(good) - 1))
        return good[:at] + draw(st.binary(min_size=1, max_size=3)) + good[at + 1:]
    if kind == "truncate":
        return good[: draw(st.integers(min_value=0, max_value=len(good)))]
    if kind == "drop line":
        return b"\n".join(lines[:row] + lines[row + 1:])
    if kind == "repeat line":
        return b"\n".join(lines[: row + 1] + [lines[row]] + lines[row + 1:])
    return b"\n".join(lines[:row] + [draw(st.binary(max_size=40))] + lines[row:])


@pytest.fixture(scope="module")
def small_day(good_day) -> bytes:
    return b"\n".join(good_day.split(b"\n")[: SMALL_ROWS + 1]) + b"\n"


@pytest.fixture(scope="module")
def property_zone(tmp_path_factory):
    root = tmp_path_factory.mktemp("property")
    landing = LandingZone(path=str(root / "landing"), quarantine_path=str(root / "q"))
    return landing, DuckDBWarehouse(path=str(root / "warehouse.duckdb"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_file_is_stored_exactly_or_rejected_with_nothing_stored(property_zone, small_day, data):
    landing, warehouse = property_zone
    path = landing.file_for("flights", DAY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(small_day)
    ingest_days(warehouse, landing, FLIGHTS, [DAY])  # the day as it was before the bad delivery
    before = _stored_day(warehouse)

    content = data.draw(mutations(small_day))
    path.write_bytes(content)
    try:
        ingest_days(warehouse, landing, FLIGHTS, [DAY])
    except LandingFileError as error:
        event("rejected")
        assert str(path) in str(error)
        assert _stored_day(warehouse) == before
        return
    event("accepted")
    assert _stored_day(warehouse) == _expected_rows(content)


def test_ingest_is_idempotent(zone):
    landing, warehouse = zone
    before = stored_rows(warehouse)
    ingest_days(warehouse, landing, FLIGHTS, [DAY])
    assert stored_rows(warehouse) == before
    with duckdb.connect(warehouse.path, read_only=True) as con:
        assert con.execute("select count(*) from raw.ingest_log").fetchone()[0] == 1
