"""Drift statistics and the drift verdict, called directly (no Dagster, no warehouse)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from core.drift import drift_verdict, psi_categorical, psi_numeric
from core.model_spec import Gate

POLICY = SimpleNamespace(psi_threshold=0.25, decay=0.05, gate=Gate("auc", 0.6, 0.002))
MAE_POLICY = SimpleNamespace(psi_threshold=0.25, decay=3.0, gate=Gate("mae", 40.0, 0.1))


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


def _table(**psi):
    return pd.DataFrame({"feature": list(psi), "psi": list(psi.values())})


def test_verdict_names_the_features_past_the_threshold():
    drift, reason = drift_verdict(_table(temp=0.4, visib=0.26, precip=0.1), 0.70, 0.70, POLICY)
    assert drift and reason == "PSI > 0.25 on temp, visib"


def test_verdict_flags_decay_of_the_recent_auc():
    drift, reason = drift_verdict(_table(temp=0.1), 0.62, 0.70, POLICY)
    assert drift and "realized auc 0.620 is more than 0.05 worse" in reason and "0.700" in reason
    # Within the allowed decay: no drift.
    assert drift_verdict(_table(temp=0.1), 0.66, 0.70, POLICY) == (
        False, "no drift beyond the thresholds")


def test_verdict_flags_an_error_metric_that_grew():
    drift, reason = drift_verdict(_table(temp=0.1), 16.5, 12.0, MAE_POLICY)
    assert drift and "realized mae 16.500 is more than 3.0 worse" in reason
    assert drift_verdict(_table(temp=0.1), 14.0, 12.0, MAE_POLICY)[0] is False
    assert drift_verdict(_table(temp=0.1), 8.0, 12.0, MAE_POLICY)[0] is False  # better


def test_verdict_without_labels_judges_on_psi_alone():
    assert drift_verdict(_table(temp=0.1), None, 0.70, POLICY)[0] is False
    assert drift_verdict(_table(temp=0.3), None, 0.70, POLICY)[0] is True
