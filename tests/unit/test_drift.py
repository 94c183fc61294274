"""Drift and decay statistics and their triggers (core/monitor/drift.py), called directly (no
Dagster, no warehouse)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from core.evaluate.uncertainty import Interval
from core.monitor.drift import (
    decay_trigger,
    drift_table,
    feature_drift_trigger,
    psi_categorical,
    psi_numeric,
    reference_window,
)

D = date.fromisoformat


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(7)
    reference = pd.Series(rng.normal(50, 10, 20_000))
    assert psi_numeric(reference, pd.Series(rng.normal(50, 10, 3_000))) < 0.02
    assert psi_numeric(reference, pd.Series(rng.normal(65, 10, 3_000))) > 0.5
    levels = pd.Series(rng.choice(["EWR", "JFK", "LGA"], 10_000, p=[0.4, 0.3, 0.3]))
    assert psi_categorical(levels, levels.sample(2_000, random_state=1)) < 0.02
    assert psi_categorical(levels, pd.Series(["EWR"] * 1_800 + ["JFK"] * 200)) > 0.5


def test_psi_counts_missing_values_as_a_bin_of_their_own():
    reference = pd.Series(np.arange(1000, dtype=float))
    assert psi_numeric(reference, reference.copy()) < 1e-9
    half_missing = reference.where(reference % 2 == 0)
    assert psi_numeric(reference, half_missing) > 1.0


def test_the_reference_is_the_same_season_not_the_whole_training_set():
    # A year of features: the same weeks a year earlier (52 weeks: the same weekdays).
    assert reference_window(D("2014-03-01"), D("2014-03-07"), D("2013-01-01"), D("2014-02-01")) \
        == (D("2013-03-02"), D("2013-03-08"), "the same weeks a year earlier")
    # Less than a year: as many days as the window, ending with the champion's training.
    assert reference_window(D("2013-04-01"), D("2013-04-07"), D("2013-01-01"), D("2013-03-23")) \
        == (D("2013-03-17"), D("2013-03-23"), "the last days the champion trained on")


def week(first_day: str, rows: int, temp, rng) -> pd.DataFrame:
    """Flights over seven days; ``temp(day)`` is that day's temperature, shared by its flights."""
    days = pd.Timestamp(first_day) + pd.to_timedelta(rng.integers(0, 7, rows), unit="D")
    by_day = {day: temp(day) for day in sorted(days.unique())}
    return pd.DataFrame({"flight_date": days, "temp": [by_day[d] for d in days],
                         "origin": rng.choice(["EWR", "JFK", "LGA"], rows)})


def test_a_shift_beyond_the_day_to_day_noise_is_drift():
    rng = np.random.default_rng(3)
    reference = week("2013-03-03", 6000, lambda _: rng.normal(40, 8), rng)
    warmer = week("2013-03-24", 5000, lambda _: rng.normal(75, 8), rng)
    table = drift_table(reference, warmer, ["temp"], ["origin"])
    temp, origin = (table.set_index("feature").loc[name] for name in ("temp", "origin"))
    assert temp["psi"] > 1 and temp["p_value"] < 0.005
    assert origin["psi"] < 0.01 and origin["p_value"] > 0.05
    assert (temp["reference_rows"], temp["recent_rows"]) == (6000, 5000)
    assert (temp["reference_days"], temp["recent_days"]) == (7, 7)

    trigger = feature_drift_trigger(table, 0.25, "warn", "the same weeks a year earlier")
    assert trigger.fired and trigger.acts == "warn"
    assert "temp (PSI" in trigger.reason and "origin" not in trigger.reason
    assert "5,000 rows of 7 days against 6,000 of 7 days" in trigger.reason


def test_two_ordinary_weeks_differ_by_a_large_psi_that_is_only_noise():
    """A day's flights share its weather: a week has seven temperatures, so two weeks of the
    same climate differ by a PSI far past 0.25. Reshuffling days shows it is noise."""
    rng = np.random.default_rng(11)
    reference, recent = (week(first, 6000, lambda _: rng.normal(40, 8), rng)
                         for first in ("2013-03-03", "2013-03-10"))
    table = drift_table(reference, recent, ["temp"], [])
    assert table["psi"].iloc[0] > 1  # what a row-level reading would call a real shift
    assert table["p_value"].iloc[0] > 0.05
    trigger = feature_drift_trigger(table, 0.25, "warn", "x")
    assert not trigger.fired and "1 past it within the noise" in trigger.reason


def realized(value, low, high, rows=6000):
    return Interval(value, low, high, rows, 7, 0.95)


HOLDOUT_AUC = Interval(0.70, 0.68, 0.72, 9000, 14, 0.95)


@pytest.mark.parametrize("interval, fired", [
    (realized(0.60, 0.58, 0.62), True),   # surely below the holdout's low end 0.68 - 0.05
    (realized(0.64, 0.61, 0.66), False),  # possibly above it: not surely decayed
    (realized(0.69, 0.67, 0.71), False),
])
def test_decay_needs_the_whole_interval_below_the_holdouts_interval(interval, fired):
    trigger = decay_trigger(interval, HOLDOUT_AUC, metric="auc", higher_is_better=True,
                            decay=0.05, min_rows=2000)
    assert trigger.fired is fired and "6,000 rows, 7 days" in trigger.reason
    assert "9,000 rows, 14 days" in trigger.reason and "(0.630)" in trigger.reason


def test_decay_of_an_error_metric_and_too_few_rows():
    holdout_mae = Interval(12.0, 11.5, 12.5, 9000, 14, 0.95)
    grown = decay_trigger(realized(17.0, 16.0, 18.0), holdout_mae, metric="mae",
                          higher_is_better=False, decay=3.0, min_rows=2000)
    assert grown.fired and "+ 3.0 (15.500)" in grown.reason
    assert not decay_trigger(realized(15.0, 14.0, 16.0), holdout_mae, metric="mae",
                             higher_is_better=False, decay=3.0, min_rows=2000).fired
    few = decay_trigger(realized(0.5, 0.4, 0.6, rows=900), HOLDOUT_AUC, metric="auc",
                        higher_is_better=True, decay=0.05, min_rows=2000)
    assert not few.fired and "too few to judge" in few.reason
    assert not decay_trigger(None, HOLDOUT_AUC, metric="auc", higher_is_better=True,
                             decay=0.05, min_rows=2000).fired


# --- the retrain policy ---------------------------------------------------------------------













def test_significance_controls_the_false_discovery_rate():
    from core.monitor.drift import significant

    p_values = pd.Series([0.0005, 0.002, 0.004, 0.03, 0.5, None])
    # Benjamini-Hochberg over six inputs at 5 %: the k-th smallest p-value against k * 0.05 / 6.
    assert significant(p_values).tolist() == [True, True, True, True, False, False]
    # One small p-value among noise: 0.02 > 0.05 / 6, the bar for the smallest.
    assert not significant(pd.Series([0.02, 0.9, 0.9, 0.9, 0.9, 0.9])).any()


