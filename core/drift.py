"""Drift and decay, free of Dagster: has the serving model got worse, and have its inputs moved?

Decay is the primary signal: the serving version's realized metric over the recent window,
from matured labels, with a day-block bootstrap interval (core/uncertainty.py). It is decay
only when the whole interval is worse than the version's holdout value by more than the spec's
``decay``, on at least ``min_rows`` labeled rows.

Feature drift compares the recent window with a reference of the same length and season: the
same weeks a year earlier when the feature table has them, otherwise the last days the
champion trained on (the weeks its training ended on). A whole training set as the reference
would make every seasonal input drift every winter. Each input gets its population stability
index (PSI = sum over bins of (recent% - reference%) * ln(recent% / reference%); < 0.1 stable,
> 0.25 a real shift), a two-sample test's p-value (Kolmogorov-Smirnov for numbers, chi-square
for categories) and both sample sizes. Rows of one day share their weather, so p-values on
thousands of rows are small for any difference: PSI past the threshold is what counts, and
on its own it warns unless the spec asks to retrain on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.uncertainty import Interval

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


def _psi(reference_share: np.ndarray, recent_share: np.ndarray) -> float:
    reference_share = np.clip(reference_share, _EPSILON, None)
    recent_share = np.clip(recent_share, _EPSILON, None)
    return float(np.sum((recent_share - reference_share) * np.log(recent_share / reference_share)))


def psi_numeric(reference: pd.Series, recent: pd.Series, bins: int = 10) -> float:
    """PSI over bins cut at the reference's quantiles; missing values are a bin of their own."""
    reference, recent = reference.astype("float64"), recent.astype("float64")
    edges = np.unique(np.nanquantile(reference.dropna(), np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: pd.Series) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values.dropna(), side="right"),
                             minlength=len(edges) + 1)
        counts = np.append(counts, values.isna().sum())
        return counts / max(len(values), 1)

    return _psi(shares(reference), shares(recent))


def psi_categorical(reference: pd.Series, recent: pd.Series) -> float:
    """PSI over the levels seen in either sample."""
    levels = sorted(set(reference.dropna().astype(str)) | set(recent.dropna().astype(str)))
    reference_share = reference.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
    recent_share = recent.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
    return _psi(reference_share.to_numpy(), recent_share.to_numpy())


def _p_value_numeric(reference: pd.Series, recent: pd.Series) -> float | None:
    from scipy.stats import ks_2samp

    reference, recent = reference.dropna().astype(float), recent.dropna().astype(float)
    if reference.empty or recent.empty:
        return None
    return float(ks_2samp(reference, recent).pvalue)


def _p_value_categorical(reference: pd.Series, recent: pd.Series) -> float | None:
    from scipy.stats import chi2_contingency

    counts = pd.concat([reference.astype(str).value_counts(), recent.astype(str).value_counts()],
                       axis=1).fillna(0)
    if len(counts) < 2:
        return None
    return float(chi2_contingency(counts.to_numpy()).pvalue)


def drift_table(reference: pd.DataFrame, recent: pd.DataFrame, numeric: list[str],
                categorical: list[str]) -> pd.DataFrame:
    """Per input: PSI, the two-sample test's p-value, and both sample sizes."""
    rows = []
    for kind, columns, psi, p_value in (
            ("numeric", numeric, psi_numeric, _p_value_numeric),
            ("categorical", categorical, psi_categorical, _p_value_categorical)):
        for column in columns:
            rows.append({"feature": column, "kind": kind,
                         "psi": psi(reference[column], recent[column]),
                         "p_value": p_value(reference[column], recent[column]),
                         "reference_rows": len(reference), "recent_rows": len(recent)})
    return pd.DataFrame(rows).sort_values("psi", ascending=False, ignore_index=True)


def feature_drift_trigger(table: pd.DataFrame, psi_threshold: float, acts: str,
                          reference: str) -> Trigger:
    drifted = table[table["psi"] > psi_threshold]
    sizes = (f"{int(table['recent_rows'].iloc[0]):,} recent rows against"
             f" {int(table['reference_rows'].iloc[0]):,} of {reference}") if len(table) else ""
    if drifted.empty:
        return Trigger("feature drift", False, acts,
                       f"no input's PSI above {psi_threshold} ({sizes})")
    named = ", ".join(f"{row.feature} (PSI {row.psi:.2f})" for row in drifted.itertuples())
    return Trigger("feature drift", True, acts, f"PSI above {psi_threshold} on {named} ({sizes})")


def decay_trigger(realized: Interval | None, expected: float | None, *, metric: str,
                  higher_is_better: bool, decay: float, min_rows: int) -> Trigger:
    """Decay of the serving version: its realized metric's whole interval worse than its
    holdout value by more than ``decay``, on at least ``min_rows`` labeled rows."""
    if realized is None or expected is None:
        return Trigger("decay", False, "retrain",
                       "no labeled predictions of the serving version in the window yet")
    if realized.rows < min_rows:
        return Trigger("decay", False, "retrain",
                       f"realized {metric} {realized.describe(3)}: fewer than {min_rows:,}"
                       " labeled rows, too few to judge")
    floor = expected - decay if higher_is_better else expected + decay
    surely_worse = realized.high < floor if higher_is_better else realized.low > floor
    verdict = "worse than" if surely_worse else "not surely worse than"
    return Trigger("decay", surely_worse, "retrain",
                   f"realized {metric} {realized.describe(3)} is {verdict} the holdout's"
                   f" {expected:.3f} {'-' if higher_is_better else '+'} {decay}")
