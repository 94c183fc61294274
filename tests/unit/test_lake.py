"""The lake's raw tables (spark/lake.py): each day a Parquet partition replaced whole, and
nothing half-written when a write fails. The ingest that writes them with ENGINE=spark, bad files
included, is tests/e2e/test_spark_warehouse.py's."""

from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from core.ingest.contract import SCHEDULE, WEATHER, landing_path
from core.ingest.upstream import days_between, land_days
from core.ingest.validation import read_landing_files
from spark import lake

FIRST, LAST = date(2013, 3, 1), date(2013, 3, 3)
DAYS = days_between(FIRST, LAST)


@pytest.fixture
def landing(tmp_path) -> Path:
    land_days(tmp_path / "landing", FIRST, LAST, datasets=("schedule", "weather"))
    return tmp_path / "landing"


def files(landing: Path, dataset: str = "schedule") -> dict[date, Path]:
    return {day: landing_path(landing, dataset, day) for day in DAYS}


def write(lake_dir: Path, dataset, day_files: dict[date, Path]) -> dict[date, int]:
    """The days' files, as the landing contract reads them, into the lake."""
    rows = read_landing_files(dataset, list(day_files.values()))
    return lake.replace_days(lake.table_dir(lake_dir, dataset.name), rows, sorted(day_files))


def lake_rows(lake_dir: Path, table: str = "schedule"):
    """The table as an engine reads the folder: partition_date from the folder names."""
    return duckdb.connect().sql(
        f"select * from read_parquet('{lake.table_dir(lake_dir, table)}/*/*.parquet',"
        " hive_partitioning = true, hive_types = {'partition_date': date})"
        " order by source_file, source_line").to_arrow_table()


def snapshot(lake_dir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(lake_dir)): path.read_bytes()
            for path in sorted(Path(lake_dir).rglob("*")) if path.is_file()}


def test_each_day_is_a_partition_holding_the_contracts_rows(landing, tmp_path):
    counts = write(tmp_path / "lake", SCHEDULE, files(landing))

    expected = read_landing_files(SCHEDULE, list(files(landing).values()))
    assert counts == {day: sum(1 for d in expected.column("partition_date").to_pylist()
                               if d == day) for day in DAYS}
    assert all(counts.values())
    assert sorted(p.name for p in lake.table_dir(tmp_path / "lake", "schedule").iterdir()) == [
        f"partition_date={day}" for day in DAYS]
    stored = lake_rows(tmp_path / "lake")
    assert stored.select(expected.column_names).equals(expected)


def test_writing_the_same_days_twice_gives_the_same_files(landing, tmp_path):
    write(tmp_path / "lake", SCHEDULE, files(landing))
    first = snapshot(tmp_path / "lake")
    write(tmp_path / "lake", SCHEDULE, files(landing))
    assert snapshot(tmp_path / "lake") == first  # no staging folder left behind either


def test_a_write_that_fails_midway_leaves_every_day_as_it_was(landing, tmp_path, monkeypatch):
    write(tmp_path / "lake", SCHEDULE, files(landing))
    before = snapshot(tmp_path / "lake")
    written = []

    def disk_full_on_the_second_day(table, where, **kwargs):
        if written:
            raise OSError(28, "No space left on device")
        written.append(where)
        pq.write_table(table, where, **kwargs)

    monkeypatch.setattr(lake.pq, "write_table", disk_full_on_the_second_day)
    with pytest.raises(OSError, match="No space left"):
        write(tmp_path / "lake", SCHEDULE, files(landing))
    assert written  # the first day's new file was written, and never swapped in
    assert snapshot(tmp_path / "lake") == before


def test_a_day_delivered_empty_has_no_partition(landing, tmp_path):
    write(tmp_path / "lake", WEATHER, files(landing, "weather"))
    day_file = landing_path(landing, "weather", LAST)
    day_file.write_text(day_file.read_text().splitlines()[0] + "\n")  # the header alone

    counts = write(tmp_path / "lake", WEATHER, {LAST: day_file})
    assert counts == {LAST: 0}
    assert not lake.day_dir(lake.table_dir(tmp_path / "lake", "weather"), LAST).exists()
    assert set(lake_rows(tmp_path / "lake", "weather").column("partition_date").to_pylist()) == {
        FIRST, date(2013, 3, 2)}


def test_a_reference_table_is_the_packages_file(tmp_path):
    rows = lake.ingest_reference(tmp_path / "lake", "planes")
    stored = pq.read_table(lake.table_dir(tmp_path / "lake", "planes") / lake.PART_FILE)
    assert stored.num_rows == rows > 3000
    assert "tailnum" in stored.column_names
