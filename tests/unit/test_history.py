"""Years of history replayed from the real one (core/ingest/history.py), as the source delivers
them (core/ingest/upstream.py)."""

from datetime import date, datetime, timedelta

import pytest

from core.evaluate.model_card import synthetic_note
from core.ingest.contract import DAILY_DATASETS, landing_path
from core.ingest.history import (
    REAL_FIRST_DAY,
    History,
    history_from_env,
    is_synthetic,
    source_of,
)
from core.ingest.upstream import (
    TIMESTAMP_FORMAT,
    days_between,
    delivery_timeline,
    land_days,
    package_day_text,
)
from core.ingest.validation import read_landing_files


def test_replayed_years_tile_the_days_before_the_real_one_keeping_weekdays():
    history = History(10)
    days = days_between(history.first_day, history.last_day)
    assert len(days) == 365 + 9 * 364
    sources = [source_of(day) for day in days]
    assert all(source.weekday() == day.weekday() for day, (source, _) in zip(days, sources, strict=True))
    # every replayed year is the real Jan 1 .. Dec 30, once
    for steps in range(1, 10):
        replayed = [source for source, k in sources if k == steps]
        assert replayed == days_between(date(2013, 1, 1), date(2013, 12, 30))
    assert [day for day, (_, k) in zip(days, sources, strict=True) if k == 0] == days_between(
        REAL_FIRST_DAY, date(2013, 12, 31))
    assert source_of(date(2013, 6, 1)) == (date(2013, 6, 1), 0)


def test_one_year_is_the_real_one_alone():
    history = History()
    assert (history.first_day, history.last_day) == (date(2013, 1, 1), date(2013, 12, 31))
    assert not is_synthetic(history.first_day)


def test_a_history_outside_its_bounds_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("HISTORY_YEARS", "0")
    with pytest.raises(ValueError, match="HISTORY_YEARS=0"):
        history_from_env()
    monkeypatch.setenv("HISTORY_YEARS", "ten")
    with pytest.raises(ValueError, match="HISTORY_YEARS='ten'"):
        history_from_env()


def test_a_replayed_day_carries_its_real_days_rows_moved_back_whole_weeks(tmp_path):
    day = date(2011, 3, 8)
    source, steps = source_of(day)
    assert steps == 2 and source == day + timedelta(weeks=104)
    for name, dataset in DAILY_DATASETS.items():
        real = package_day_text(name, source).splitlines()
        replayed = package_day_text(name, day).splitlines()
        assert replayed[0] == real[0] and len(replayed) == len(real) > 1
        columns = real[0].split(",")
        for real_line, line in zip(real[1:], replayed[1:], strict=True):
            was, now = dict(zip(columns, real_line.split(","), strict=True)), dict(zip(columns, line.split(","), strict=True))
            assert (now["year"], now["month"], now["day"]) == ("2011", "3", "8")
            if "time_hour" in columns:
                moved = (datetime.strptime(was["time_hour"], TIMESTAMP_FORMAT)
                         - datetime.strptime(now["time_hour"], TIMESTAMP_FORMAT))
                assert moved == timedelta(weeks=104)
            rest = set(columns) - {"year", "month", "day", "time_hour"}
            assert {c: now[c] for c in rest} == {c: was[c] for c in rest}
        # and the landing contract accepts it as the day it names
        land_days(tmp_path, day, day, datasets=(name,))
        table = read_landing_files(dataset, [landing_path(tmp_path, name, day)])
        assert table.num_rows == len(real) - 1


def test_the_landing_folder_says_when_it_holds_replayed_days(tmp_path):
    land_days(tmp_path / "real", date(2013, 1, 1), date(2013, 1, 1))
    assert not (tmp_path / "real" / "README.txt").exists()
    land_days(tmp_path / "replayed", date(2012, 12, 31), date(2012, 12, 31))
    assert "SYNTHETIC" in (tmp_path / "replayed" / "README.txt").read_text()


def test_the_world_delivers_within_the_history(monkeypatch):
    monkeypatch.setenv("HISTORY_YEARS", "2")
    first = History(2).first_day
    timeline = delivery_timeline(first - timedelta(days=1), first, lead_days=1)
    assert min(day for _, day in timeline) == first
    monkeypatch.setenv("HISTORY_YEARS", "1")
    assert delivery_timeline(date(2012, 12, 31), date(2012, 12, 31)) == [
        ("schedule", date(2013, 1, 1))]


def test_a_model_card_says_which_part_of_its_training_window_is_replayed():
    note = synthetic_note(["2012-10-02", "2013-03-31"])
    assert "2012-10-02 .. 2012-12-31" in note and "Synthetic" in note
    assert synthetic_note(["2013-01-01", "2013-03-31"]) == ""
