"""The landing contract: every kind of bad file is rejected with file, line, column and rule in
the message; anything accepted is read exactly as the file says, in the contract's dialect.

The contract judges bytes in memory (resources/validation.py), so most of these need no
warehouse. The ingest tests at the end prove that a rejection stores nothing and that an
accepted day is stored once; tests/e2e/test_ingest_pipeline.py covers the same path through a Dagster run.
"""

import csv
import io
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from core.ingest.contract import OUTCOMES, SCHEDULE, WEATHER, LandingFileError, landing_path
from core.ingest.upstream import land_days
from core.ingest.validation import DELIMITER, NULL_TOKENS, read_landing_data, read_landing_files
from resources.landing import LandingZone
from tools import faults

DAY = date(2013, 3, 1)
DAY_FILE = Path("landing/schedule/2013-03-01.csv")  # where a delivery of DAY would be
OUTCOMES_FILE = Path("landing/outcomes/2013-03-01.csv")


def good_day_bytes(dataset: str) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as landing:
        land_days(Path(landing), DAY, DAY, datasets=(dataset,))
        return landing_path(Path(landing), dataset, DAY).read_bytes()


GOOD_DAY = good_day_bytes("schedule")
GOOD_OUTCOMES = good_day_bytes("outcomes")


# --- each kind of bad delivery, judged in memory ---------------------------------------------

BAD = [("schedule", kind) for kind in faults.BAD_KINDS] + [
    ("outcomes", kind) for kind in faults.bad_outcome_files(GOOD_OUTCOMES)]


@pytest.mark.parametrize("dataset, kind", BAD, ids=[f"{d}: {k}" for d, k in BAD])
def test_bad_file_is_rejected_with_file_line_column_and_rule(dataset, kind):
    if dataset == "schedule":
        contract, path, (content, problem, line, column) = (
            SCHEDULE, DAY_FILE, faults.bad_landing_files(GOOD_DAY)[kind])
    else:
        contract, path, (content, problem, line, column) = (
            OUTCOMES, OUTCOMES_FILE, faults.bad_outcome_files(GOOD_OUTCOMES)[kind])

    with pytest.raises(LandingFileError) as raised:
        read_landing_data(contract, [(path, content)])

    error = raised.value
    assert error.path == path and str(path) in str(error)
    assert problem in str(error)
    if line is not None:
        assert error.line == line and f"line {line}" in str(error)
    if column is not None:
        assert error.column == column and f"column {column}" in str(error)


def test_a_good_day_is_read_with_every_row_typed():
    table = read_landing_data(SCHEDULE, [(DAY_FILE, GOOD_DAY)])
    assert table.num_rows == GOOD_DAY.count(b"\n") - 1
    assert table.column("partition_date").to_pylist() == [DAY] * table.num_rows
    assert str(table.schema.field("flight").type) == "int32"


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(LandingFileError, match="missing: no file was delivered"):
        read_landing_files(SCHEDULE, [tmp_path / "2013-03-01.csv"])


def test_quarantine_moves_the_file_aside_with_its_reason(tmp_path):
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    path = landing.file_for("schedule", DAY)
    path.parent.mkdir(parents=True)
    path.write_bytes(faults.replace_first_row(GOOD_DAY, b"2013,3,1,", b"2013,13,1,"))
    with pytest.raises(LandingFileError) as raised:
        read_landing_files(SCHEDULE, [path])

    moved = landing.quarantine("schedule", raised.value, run_id="test-run")

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


# --- property: any mutation of a good file is read exactly or rejected -----------------------
# Derandomized under `make test` (tests/conftest.py: a fixed, reproducible set of examples);
# `make chaos` runs the same property over many more random examples.

SMALL_DAY = b"\n".join(GOOD_DAY.split(b"\n")[:13]) + b"\n"  # a dozen real rows: fast examples
SMALL_ROWS = 12


def expected_rows(content: bytes) -> list[tuple]:
    """What the file says, read independently in the contract's dialect (unquoted, DELIMITER,
    NULL_TOKENS) with the csv module and the contract's types."""
    reader = csv.reader(io.StringIO(content.decode("utf-8"), newline=""),
                        delimiter=DELIMITER, quoting=csv.QUOTE_NONE)
    next(reader)
    rows = []
    for fields in reader:
        if not fields:
            continue  # an empty line
        values = []
        for (_, sql_type), field in zip(SCHEDULE.columns.items(), fields, strict=True):
            if field in NULL_TOKENS:
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


def read_rows(content: bytes) -> list[tuple]:
    table = read_landing_data(SCHEDULE, [(DAY_FILE, content)])
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    rows = con.from_arrow(table.select(list(SCHEDULE.columns))).fetchall()
    return sorted(rows, key=repr)


def mutate(good: bytes, mutation: tuple) -> bytes:
    """Apply one described change to a good file (described, so that examples read clearly)."""
    kind, *args = mutation
    lines = good.split(b"\n")
    row = args[0] % (len(lines) - 1) if args and isinstance(args[0], int) else 0
    if kind == "field":
        fields = lines[row].split(b",")
        fields[args[1] % len(fields)] = args[2]
        lines[row] = b",".join(fields)
    elif kind == "bytes":
        at = args[0] % len(good)
        return good[:at] + args[1] + good[at + 1:]
    elif kind == "truncate":
        return good[: args[0] % (len(good) + 1)]
    elif kind == "drop line":
        del lines[row]
    elif kind == "repeat line":
        lines.insert(row, lines[row])
    elif kind == "insert":
        lines.insert(row, args[1])
    elif kind == "prefix":
        return args[0] + good
    elif kind == "line ending":
        return good.replace(b"\n", args[0])
    return b"\n".join(lines)


FIELD_VALUES = st.one_of(
    st.sampled_from(["", "NA", "0", "-1", "2400", "2360", "13", "99999999999", "1.5", "1e3",
                     "nan", "inf", " 7", "B6", "JFK", "x,y", '"', '"B6"', "2013-03-01T05:00:00Z",
                     "é", "\r", "\x00"]).map(str.encode),
    st.text(max_size=6).map(str.encode),
)
INDEX = st.integers(min_value=0, max_value=10_000)
MUTATIONS = st.one_of(
    st.tuples(st.just("field"), INDEX, INDEX, FIELD_VALUES),
    st.tuples(st.just("bytes"), INDEX, st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("truncate"), INDEX),
    st.tuples(st.just("drop line"), INDEX),
    st.tuples(st.just("repeat line"), INDEX),
    st.tuples(st.just("insert"), INDEX, st.binary(max_size=40)),
    st.tuples(st.just("prefix"), st.sampled_from([b"\xef\xbb\xbf", b"\n", b" "])),
    st.tuples(st.just("line ending"), st.sampled_from([b"\r\n", b"\n\n", b"\r"])),
)


@given(mutation=MUTATIONS)
@example(mutation=("field", 3, 11, b'"'))  # a lone quote in tailnum (a quoting reader breaks)
@example(mutation=("field", 2, 11, b'"N1"'))  # a quoted value
@example(mutation=("field", 2, 11, b"N1,2"))  # the delimiter inside a value
@example(mutation=("field", 1, 9, b"\x00"))  # a NUL byte
@example(mutation=("prefix", b"\xef\xbb\xbf"))  # a byte-order mark
@example(mutation=("line ending", b"\r\n"))  # CRLF line endings: accepted, read the same
@example(mutation=("field", 4, 11, b"N\r1"))  # a carriage return inside a line
@example(mutation=("line ending", b"\n\n"))  # empty lines between rows: skipped
@example(mutation=("prefix", b" "))  # " year" in the header is not the column year
@example(mutation=("truncate", SMALL_DAY.index(b"\n")))  # the header alone, no final newline
def test_mutated_file_is_read_exactly_or_rejected(mutation):
    content = mutate(SMALL_DAY, mutation)
    try:
        rows = read_rows(content)
    except LandingFileError as error:
        event("rejected")
        assert str(DAY_FILE) in str(error)
        return
    event("accepted")
    assert rows == expected_rows(content)


def test_crlf_and_lf_files_are_read_alike():
    assert read_rows(SMALL_DAY.replace(b"\n", b"\r\n")) == read_rows(SMALL_DAY)
    assert len(read_rows(SMALL_DAY)) == SMALL_ROWS


def test_each_row_keeps_the_line_it_was_on():
    lines = SMALL_DAY.split(b"\n")  # the header, SMALL_ROWS rows, the end's empty string
    def source_lines(content: bytes) -> list[int]:
        return read_landing_data(SCHEDULE, [(DAY_FILE, content)])["source_line"].to_pylist()

    assert source_lines(SMALL_DAY) == list(range(2, SMALL_ROWS + 2))
    assert source_lines(SMALL_DAY.rstrip(b"\n")) == list(range(2, SMALL_ROWS + 2))
    blank_after_row_3 = b"\n".join([*lines[:4], b"", *lines[4:]])
    assert source_lines(blank_after_row_3) == [2, 3, 4, *range(6, SMALL_ROWS + 3)]
    assert source_lines(blank_after_row_3.replace(b"\n", b"\r\n")) == source_lines(
        blank_after_row_3)


# --- ingest: a rejection stores nothing, an accepted day is stored once ----------------------







