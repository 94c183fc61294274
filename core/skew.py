"""Training-serving skew, free of Dagster: is each input, as served, what the model learned it
as?

A version learns each input as its training set had it; at serving it gets the input as the
features are known the evening before. An input that was filled in training but is (almost)
always null at serving is the signature of an input that was not known at the prediction time
(it was filled in hindsight when the training rows were built), or of a feed that stopped:
the model leans on a value it will never get, and its predictions are wrong (the careless
analyst's same-day outcome gave a probability of 1.000 to every flight). That blocks serving
the version. Each input's null rates and its PSI (as served against as trained) are reported
beside it.

The training side is a profile kept in the version's metadata (input_profile): the null rate
and the shares of ten bins (numbers, cut at the training deciles) or of the levels
(categories) of each input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.drift import psi_of_shares
from core.model_inputs import ModelInputs

NULL_AT_SERVING = 0.95  # an input null for at least this share of the served rows ...
FILLED_IN_TRAINING = 0.5  # ... that was null for at most this share of the training rows
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
                           "edges": edges.tolist(),
                           "shares": _numeric_shares(values, edges).tolist()}
    for column in inputs.categorical:
        values = frame[column]
        shares = values.dropna().astype(str).value_counts(normalize=True)
        profile[column] = {"kind": "categorical", "null_rate": float(values.isna().mean()),
                           "levels": {str(k): float(v) for k, v in shares.items()}}
    return profile


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
    """Per input: its null rate in training and as served, the PSI between the two, and
    whether it blocks serving (filled in training, all but missing at serving)."""
    rows = []
    for column in inputs.columns:
        stored = profile.get(column)
        if stored is None or not len(served):
            continue
        served_null = float(served[column].isna().mean())
        rows.append({
            "input": column, "training_null_rate": round(stored["null_rate"], 4),
            "served_null_rate": round(served_null, 4), "psi": round(_psi(stored, served[column]), 3),
            "blocks": served_null >= NULL_AT_SERVING
                      and stored["null_rate"] <= FILLED_IN_TRAINING})
    return pd.DataFrame(rows, columns=["input", "training_null_rate", "served_null_rate", "psi",
                                       "blocks"])


def blocking_skew(table: pd.DataFrame) -> str | None:
    """Why serving is blocked, naming each input (None: it is not)."""
    blocked = table[table["blocks"]]
    if blocked.empty:
        return None
    named = ", ".join(f"{row.input} (null for {row.served_null_rate:.0%} of the served rows,"
                      f" {row.training_null_rate:.1%} of the training rows)"
                      for row in blocked.itertuples())
    return (f"training-serving skew: {named}: the model learned from values that are missing"
            " when it serves (not known at the prediction time, or a feed stopped)")
