"""Drift and decay, free of Dagster: has the serving model got worse, and have its inputs moved?

Decay is the primary signal: the serving version's realized metric over the recent window,
from matured labels, with a day-block bootstrap interval (core/evaluate/uncertainty.py). It is decay
only when the whole interval is worse than the version's holdout value by more than the spec's
``decay``, on at least ``min_rows`` labeled rows.

Feature drift compares the recent window with a reference of the same length and season: the
same weeks a year earlier when the feature table has them, otherwise the last days the
champion trained on (the weeks its training ended on). A whole training set as the reference
would make every seasonal input drift every winter. Each input gets its population stability
index (PSI = sum over bins of (recent% - reference%) * ln(recent% / reference%); < 0.1 stable,
> 0.25 a real shift), a p-value and both samples' rows and days. Most inputs are the same for
every flight of a day and airport (the weather, the history rates), so a week holds a few
dozen distinct values, not thousands: two ordinary weeks differ by a PSI of several. The
p-value therefore reshuffles whole days between the two windows (a day-block permutation
test of the shift of the input's mean, or of its level shares): drift is a PSI past the
threshold with a shift that reshuffled days rarely reach. On its own it warns, unless the spec
asks to retrain on it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.evaluate.uncertainty import Interval

_EPSILON = 1e-4  # floor for empty bins, so that ln() stays finite
YEAR = timedelta(days=364)  # 52 weeks: the same weekdays a year earlier


@dataclass(frozen=True)
class Trigger:
    """One reason to retrain (or to warn), fired or not, and why."""

    name: str
    fired: bool
    acts: str  # what it does when fired: retrain | warn
    reason: str

    def as_dict(self) -> dict:
        return {"trigger": self.name, "fired": self.fired, "acts": self.acts,
                "reason": self.reason}


def reference_window(first: date, last: date, first_feature_day: date,
                     champion_train_end: date) -> tuple[date, date, str]:
    """The reference for the recent window first..last: the same weeks a year earlier when
    the features go back that far, else as many days ending with the champion's training."""
    if first - YEAR >= first_feature_day:
        return first - YEAR, last - YEAR, "the same weeks a year earlier"
    length = last - first
    return (champion_train_end - length, champion_train_end,
            "the last days the champion trained on")


def psi_of_shares(reference_share: np.ndarray, recent_share: np.ndarray) -> np.ndarray | float:
    """PSI of share vectors (or of rows of share matrices)."""
    reference_share = np.clip(reference_share, _EPSILON, None)
    recent_share = np.clip(recent_share, _EPSILON, None)
    return np.sum((recent_share - reference_share) * np.log(recent_share / reference_share),
                  axis=-1)


def _numeric_codes(reference: pd.Series, recent: pd.Series, bins: int = 10):
    """Bin numbers cut at the reference's quantiles; missing values are a bin of their own."""
    reference, recent = reference.astype("float64"), recent.astype("float64")
    edges = np.unique(np.nanquantile(reference.dropna(), np.linspace(0, 1, bins + 1)[1:-1]))

    def codes(values: pd.Series) -> np.ndarray:
        return np.where(values.isna(), len(edges) + 1,
                        np.searchsorted(edges, values.fillna(0), side="right"))

    return codes(reference), codes(recent), len(edges) + 2


def _categorical_codes(reference: pd.Series, recent: pd.Series):
    """One bin per level seen in either sample (missing is a level)."""
    levels = {level: code for code, level in enumerate(sorted(
        set(reference.astype(str)) | set(recent.astype(str))))}
    return (reference.astype(str).map(levels).to_numpy(), recent.astype(str).map(levels).to_numpy(),
            len(levels))


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    return np.bincount(codes, minlength=n_bins) / max(len(codes), 1)


def psi_numeric(reference: pd.Series, recent: pd.Series, bins: int = 10) -> float:
    reference_codes, recent_codes, n_bins = _numeric_codes(reference, recent, bins)
    return float(psi_of_shares(_shares(reference_codes, n_bins), _shares(recent_codes, n_bins)))


def psi_categorical(reference: pd.Series, recent: pd.Series) -> float:
    reference_codes, recent_codes, n_bins = _categorical_codes(reference, recent)
    return float(psi_of_shares(_shares(reference_codes, n_bins), _shares(recent_codes, n_bins)))


def _day_splits(n_days: int, n_reference: int, permutations: int, seed: int) -> np.ndarray:
    """Which days play the reference in each reshuffle: every split when there are at most
    ``permutations`` of them (exact: two weeks have 3,432), else that many random ones."""
    if math.comb(n_days, n_reference) <= permutations:
        splits = np.zeros((math.comb(n_days, n_reference), n_days), dtype=bool)
        for row, chosen in enumerate(itertools.combinations(range(n_days), n_reference)):
            splits[row, list(chosen)] = True
        return splits
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((permutations, n_days)), axis=1) < n_reference


def _mean_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|difference of the means|, from (sum, count) columns."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(a[..., 0] / a[..., 1] - b[..., 0] / b[..., 1])


def _share_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Total variation distance of the level shares, from level counts."""
    return 0.5 * np.abs(a / a.sum(-1, keepdims=True) - b / b.sum(-1, keepdims=True)).sum(-1)


def _per_day(values: pd.Series, days, kind: str, levels: dict | None) -> np.ndarray:
    """Per day: (sum, count) of a number's values, or the count of each category's level."""
    _, day = np.unique(np.asarray(days), return_inverse=True)
    day, n_days = day.ravel(), int(day.max()) + 1
    if kind == "numeric":
        numbers = values.astype("float64")
        present = numbers.notna().to_numpy()
        return np.stack([np.bincount(day[present], numbers[present], minlength=n_days),
                         np.bincount(day[present], minlength=n_days)], axis=1)
    codes = values.astype(str).map(levels).to_numpy()
    return np.bincount(day * len(levels) + codes, minlength=n_days * len(levels)).reshape(
        n_days, len(levels)).astype(float)


def day_block_p_value(reference: pd.DataFrame, recent: pd.DataFrame, column: str, kind: str,
                      permutations: int = 5000, seed: int = 0) -> float:
    """How often reshuffling whole days between the two windows moves the input at least as
    much as observed (its mean for a number, its level shares for a category): the shift's
    own noise, with days, not rows, as the units."""
    levels = None
    if kind == "categorical":
        levels = {level: code for code, level in enumerate(sorted(
            set(reference[column].astype(str)) | set(recent[column].astype(str))))}
    statistic = _mean_shift if kind == "numeric" else _share_distance
    reference_days = _per_day(reference[column], reference["flight_date"], kind, levels)
    recent_days = _per_day(recent[column], recent["flight_date"], kind, levels)
    observed = statistic(reference_days.sum(0), recent_days.sum(0))
    if not np.isfinite(observed):
        return float("nan")
    days = np.vstack([reference_days, recent_days])
    as_reference = _day_splits(len(days), len(reference_days), permutations, seed)
    shuffled = statistic(as_reference @ days, ~as_reference @ days)
    # Every split includes the observed one; random ones do not, so it is added (the +1).
    at_least = np.sum(shuffled >= observed - 1e-12)
    if math.comb(len(days), len(reference_days)) <= permutations:
        return float(at_least / len(shuffled))
    return float((1 + at_least) / (len(shuffled) + 1))


def drift_table(reference: pd.DataFrame, recent: pd.DataFrame, numeric: list[str],
                categorical: list[str]) -> pd.DataFrame:
    """Per input: PSI, its day-block permutation p-value, and both samples' rows and days."""
    rows = []
    for kind, columns, coded in (("numeric", numeric, _numeric_codes),
                                 ("categorical", categorical, _categorical_codes)):
        for column in columns:
            reference_codes, recent_codes, n_bins = coded(reference[column], recent[column])
            rows.append({
                "feature": column, "kind": kind,
                "psi": float(psi_of_shares(_shares(reference_codes, n_bins),
                                  _shares(recent_codes, n_bins))),
                "p_value": day_block_p_value(reference, recent, column, kind),
                "reference_rows": len(reference), "recent_rows": len(recent),
                "reference_days": reference["flight_date"].nunique(),
                "recent_days": recent["flight_date"].nunique()})
    return pd.DataFrame(rows).sort_values("psi", ascending=False, ignore_index=True)


def significant(p_values: pd.Series, false_discovery_rate: float = 0.05) -> pd.Series:
    """Which p-values are discoveries at this false discovery rate (Benjamini-Hochberg): of
    the inputs flagged, at most that share are expected to be noise."""
    ranked = p_values.fillna(1.0).sort_values()
    limits = false_discovery_rate * np.arange(1, len(ranked) + 1) / max(len(ranked), 1)
    passing = np.nonzero(ranked.to_numpy() <= limits)[0]
    cutoff = ranked.iloc[passing[-1]] if len(passing) else -1.0
    return p_values.fillna(1.0) <= cutoff


def feature_drift_trigger(table: pd.DataFrame, psi_threshold: float, acts: str,
                          reference: str, false_discovery_rate: float = 0.05) -> Trigger:
    """Drift: PSI past the threshold and a shift beyond the day-to-day noise (a discovery at
    the false discovery rate, over every input tested)."""
    sizes = ""
    if len(table):
        first = table.iloc[0]
        sizes = (f"{int(first['recent_rows']):,} rows of {int(first['recent_days'])} days against"
                 f" {int(first['reference_rows']):,} of {int(first['reference_days'])} days of"
                 f" {reference}; p-values from reshuffled days, false discovery rate"
                 f" {false_discovery_rate:.0%}")
    past = table["psi"] > psi_threshold
    drifted = table[past & significant(table["p_value"], false_discovery_rate)]
    if drifted.empty:
        noise = f"; {int(past.sum())} past it within the noise" if past.any() else ""
        return Trigger("feature drift", False, acts,
                       f"no input's PSI beyond {psi_threshold} and its noise{noise} ({sizes})")
    named = ", ".join(f"{row.feature} (PSI {row.psi:.2f}, p {row.p_value:.2g})"
                      for row in drifted.itertuples())
    return Trigger("feature drift", True, acts, f"PSI beyond {psi_threshold} on {named} ({sizes})")


def decay_trigger(realized: Interval | None, expected: Interval | None, *, metric: str,
                  higher_is_better: bool, decay: float, min_rows: int) -> Trigger:
    """Decay of the serving version: its realized metric's whole interval worse than its
    holdout interval by more than ``decay``, on at least ``min_rows`` labeled rows. Both
    figures have their noise; only a gap beyond both is decay."""
    if realized is None or expected is None:
        return Trigger("decay", False, "retrain",
                       "no labeled predictions of the serving version in the window yet")
    if realized.rows < min_rows:
        return Trigger("decay", False, "retrain",
                       f"realized {metric} {realized.describe(3)}: fewer than {min_rows:,}"
                       " labeled rows, too few to judge")
    if higher_is_better:
        bound, surely_worse = expected.low - decay, realized.high < expected.low - decay
    else:
        bound, surely_worse = expected.high + decay, realized.low > expected.high + decay
    verdict = "worse than" if surely_worse else "not surely worse than"
    return Trigger("decay", surely_worse, "retrain",
                   f"realized {metric} {realized.describe(3)} is {verdict} the holdout's"
                   f" {expected.describe(3)} {'-' if higher_is_better else '+'} {decay}"
                   f" ({bound:.3f})")
