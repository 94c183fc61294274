"""Training-serving skew (core/serve/skew.py): each input as served against the training set's
profile, called directly."""

import numpy as np
import pandas as pd

from core.serve.skew import blocking_skew, input_profile, skew_table
from core.transform.model_inputs import ModelInputs

INPUTS = ModelInputs(("dep_delay_actual", "temp_last"), ("origin",))


def frame(rows, seed, delay_known=True, warmer=0.0, days=20):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "flight_date": pd.Timestamp("2013-03-01") + pd.to_timedelta(
            np.arange(rows) % days, unit="D"),
        "dep_delay_actual": rng.normal(10, 30, rows) if delay_known else np.full(rows, np.nan),
        "temp_last": rng.normal(40 + warmer, 10, rows),
        "origin": rng.choice(["EWR", "JFK", "LGA"], rows)})


def test_an_input_filled_in_training_and_missing_at_serving_blocks_naming_it():
    profile = input_profile(frame(20_000, 1), INPUTS)
    assert profile["dep_delay_actual"]["null_rate"] == 0.0
    served = frame(900, 2, delay_known=False, days=1)  # the evening before, it is unknown
    table = skew_table(profile, served, INPUTS)
    reason = blocking_skew(table)
    assert reason is not None and "dep_delay_actual (null for 100% of the served rows" in reason
    assert "missing on 0.0% of the training days" in reason
    assert "temp_last" not in reason and "origin" not in reason
    assert table.set_index("input").loc["dep_delay_actual", "served_null_rate"] == 1.0


def test_inputs_as_trained_do_not_block_and_a_shift_shows_in_the_psi():
    profile = input_profile(frame(20_000, 1), INPUTS)
    same = skew_table(profile, frame(900, 3), INPUTS)
    assert blocking_skew(same) is None and same["psi"].max() < 0.1
    warmer = skew_table(profile, frame(900, 3, warmer=15.0), INPUTS).set_index("input")
    assert warmer.loc["temp_last", "psi"] > 0.5 and not warmer["blocks"].any()


def test_an_input_missing_on_ordinary_training_days_may_be_missing_when_served():
    """No gust on a calm day: the input is missing for whole days, in training too."""
    training = frame(20_000, 1)
    calm = training["flight_date"].dt.day % 4 == 0  # a quarter of the days
    training.loc[calm, "dep_delay_actual"] = np.nan
    profile = input_profile(training, INPUTS)
    assert profile["dep_delay_actual"]["missing_days"] == 0.25
    served = frame(900, 2, delay_known=False, days=1)
    assert blocking_skew(skew_table(profile, served, INPUTS)) is None
