"""How served predictions are judged once their labels land (core/monitor/performance.py):
each row credited to the version that served it, trailing windows per version. Called directly."""

from datetime import date

import pandas as pd

from core.monitor.performance import daily_performance, rolling_metric_series, rolling_performance


def served(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["flight_date", "model_version", "prediction", "label",
                                       "in_sample"])


def test_realized_performance_credits_each_row_to_the_version_that_served_it():
    d1, d2 = pd.Timestamp("2013-03-01"), pd.Timestamp("2013-03-02")
    rows = served([
        # v1 served day 1 perfectly ...
        (d1, "v1", 0.9, True, False), (d1, "v1", 0.1, False, False),
        (d1, "v1", 0.8, True, False), (d1, "v1", 0.2, False, False),
        # ... v2 served day 2 backwards
        (d2, "v2", 0.1, True, False), (d2, "v2", 0.9, False, False),
        (d2, "v2", 0.2, True, False), (d2, "v2", 0.8, False, False),
        # a day v1 trained on: not a fair test of it, left out
        (d1, "v1", 0.0, True, True),
    ])
    daily = daily_performance(rows, "classification", 0.5).set_index("model_version")
    assert daily.loc["v1", "auc"] == 1.0 and daily.loc["v2", "auc"] == 0.0
    assert daily.loc["v1", "rows"] == 4  # the in-sample row is not counted
    # Pooled over both days, still one line per version: never a mix of the two.
    rolling = rolling_performance(rows, date(2013, 3, 2), 7, "classification", 0.5)
    assert list(rolling["model_version"]) == ["v1", "v2"]
    assert list(rolling["auc"]) == [1.0, 0.0] and list(rolling["rows"]) == [4, 4]
    assert rolling_performance(rows, date(2013, 3, 1), 1, "classification", 0.5)[
        "model_version"].tolist() == ["v1"]


def test_the_rolling_series_takes_each_versions_trailing_days():
    day = [pd.Timestamp("2013-03-01") + pd.Timedelta(days=n) for n in range(4)]
    rows = served([
        # v1: one flight a day, late on days 0 and 3; v2 serves day 3 only (none late).
        (day[0], "v1", 0.5, True, False), (day[1], "v1", 0.5, False, False),
        (day[2], "v1", 0.5, False, False), (day[3], "v1", 0.5, True, False),
        (day[3], "v2", 0.5, False, False),
        (day[3], "v1", 0.5, True, True),  # in sample: left out
    ])
    series = rolling_metric_series(rows, 2, "classification", "positive_rate", 0.5)
    assert series["v1"] == ([d.date() for d in day], [1.0, 0.5, 0.0, 0.5])
    assert series["v2"] == ([day[3].date()], [0.0])


