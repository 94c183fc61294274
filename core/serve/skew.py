"""Training-serving skew, free of Dagster: is each input, as served, what the model learned it
as?

A version learns each input as its training set had it; at serving it gets the input as the
features are known the evening before. An input missing for a whole served day that was
hardly ever missing for a whole training day is the signature of an input that was not known
at the prediction time (it was filled in hindsight when the training rows were built), or of
a feed that stopped: the model leans on a value it will never get, and its predictions are
wrong (the careless analyst's same-day outcome gave a probability of 1.000 to every flight).
That blocks serving the version. Judged by days, not rows: many inputs are one value per day
and airport, and some are missing on ordinary days (no gust on a calm day: 28 % of training
rows), which must not block. Each input's null rates and its PSI (as served against as
trained) are reported beside it.

The training side is a profile kept in the version's metadata (input_profile): the null rate,
the share of days it was missing, and the shares of ten bins (numbers, cut at the training
deciles) or of the levels (categories) of each input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.monitor.drift import psi_of_shares
from core.transform.model_inputs import ModelInputs

MISSING_DAY = 0.95  # an input null for this share of a day's flights is missing that day
# Serving is blocked when the input is missing on at least half the served days and was
# missing on at most this share of the training days (every input that reads the day before
# is missing on the data's first day: 1 of 33 days in January, 3 %; no gust on 15 % of them).
RARELY_MISSING_IN_TRAINING = 0.05
DAY = "flight_date"
_OTHER = "(other)"  # categories the training set did not have


def input_profile(frame: pd.DataFrame, inputs: ModelInputs, bins: int = 10) -> dict:
    """Each input's null rate and value shares in ``frame`` (the training rows)."""
    profile = {}
    for column in inputs.numeric:
        values = frame[column].astype("float64")
        present = values.dropna()
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) \
            if len(present) else np.array([])
        profile[column] = {"kind": "numeric", "null_rate": float(values.isna().mean()),
                           "missing_days": missing_days_share(frame, column),
                           "edges": edges.tolist(),
                           "shares": _numeric_shares(values, edges).tolist()}
    for column in inputs.categorical:
        values = frame[column]
        shares = values.dropna().astype(str).value_counts(normalize=True)
        profile[column] = {"kind": "categorical", "null_rate": float(values.isna().mean()),
                           "missing_days": missing_days_share(frame, column),
                           "levels": {str(k): float(v) for k, v in shares.items()}}
    return profile


def missing_days_share(frame: pd.DataFrame, column: str) -> float:
    """The share of the days in ``frame`` on which ``column`` is missing (null for at least
    MISSING_DAY of the day's flights)."""
    if frame.empty:
        return 0.0
    by_day = frame[column].isna().groupby(frame[DAY]).mean()
    return float((by_day >= MISSING_DAY).mean())


def _numeric_shares(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    """Shares of the bins cut at ``edges``, and of the missing values (the last bin)."""
    codes = np.where(values.isna(), len(edges) + 1,
                     np.searchsorted(edges, values.fillna(0), side="right"))
    return np.bincount(codes, minlength=len(edges) + 2) / max(len(values), 1)


def _psi(stored: dict, served: pd.Series) -> float:
    if stored["kind"] == "numeric":
        edges = np.asarray(stored["edges"])
        return float(psi_of_shares(np.asarray(stored["shares"]),
                                   _numeric_shares(served.astype("float64"), edges)))
    levels = stored["levels"]
    present = served.dropna().astype(str)
    present = present.where(present.isin(levels.keys()), _OTHER)
    shares = present.value_counts(normalize=True)
    names = [*levels, _OTHER]
    return float(psi_of_shares(np.array([levels.get(n, 0.0) for n in names]),
                               np.array([float(shares.get(n, 0.0)) for n in names])))


def skew_table(profile: dict, served: pd.DataFrame, inputs: ModelInputs) -> pd.DataFrame:
    """Per input: its null rate and the share of days it was missing, in training and as
    served, the PSI between the two, and whether it blocks serving."""
    rows = []
    for column in inputs.columns:
        stored = profile.get(column)
        if stored is None or not len(served):
            continue
        served_missing = missing_days_share(served, column)
        rows.append({
            "input": column, "training_null_rate": round(stored["null_rate"], 4),
            "served_null_rate": round(float(served[column].isna().mean()), 4),
            "training_missing_days": round(stored["missing_days"], 4),
            "served_missing_days": round(served_missing, 4),
            "psi": round(_psi(stored, served[column]), 3),
            "blocks": served_missing >= 0.5
                      and stored["missing_days"] <= RARELY_MISSING_IN_TRAINING})
    return pd.DataFrame(rows, columns=["input", "training_null_rate", "served_null_rate",
                                       "training_missing_days", "served_missing_days", "psi",
                                       "blocks"])


def blocking_skew(table: pd.DataFrame) -> str | None:
    """Why serving is blocked, naming each input (None: it is not)."""
    blocked = table[table["blocks"]]
    if blocked.empty:
        return None
    named = ", ".join(f"{row.input} (null for {row.served_null_rate:.0%} of the served rows;"
                      f" missing on {row.training_missing_days:.1%} of the training days,"
                      f" {row.training_null_rate:.1%} of its rows)"
                      for row in blocked.itertuples())
    return (f"training-serving skew: {named}: the model learned from values that are missing"
            " when it serves (not known at the prediction time, or a feed stopped)")
