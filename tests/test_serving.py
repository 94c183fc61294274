"""What may happen to served predictions (core/serving.py), and how served predictions are
judged once labels land (core/performance.py). Called directly."""

from datetime import date

import pandas as pd

from core.performance import daily_performance, rolling_metric_series, rolling_performance
from core.serving import serving_decision, serving_decisions

DAY = date(2013, 3, 1)


def scores(version: str, *p: float) -> pd.DataFrame:
    return pd.DataFrame({"flight_id": [f"f{i}" for i in range(len(p))],
                         "model_version": version, "prediction": list(p)})


def test_a_day_without_predictions_is_served():
    assert serving_decision(DAY, scores("v1")[:0], scores("v1", 0.2), False).action == "write"


def test_the_same_predictions_again_change_nothing_even_after_the_day():
    decision = serving_decision(DAY, scores("v1", 0.2, 0.7), scores("v1", 0.2, 0.7)[::-1], True)
    assert decision.action == "keep"


def test_a_day_not_yet_flown_is_served_again_with_the_new_scores():
    decision = serving_decision(DAY, scores("v1", 0.2, 0.7), scores("v2", 0.3, 0.6), False)
    assert decision.action == "replace" and "2 predictions by v1 replaced" in decision.reason


def test_a_day_whose_outcomes_landed_keeps_what_was_served_and_says_so():
    decision = serving_decision(DAY, scores("v1", 0.2, 0.7), scores("v2", 0.3, 0.6), True)
    assert decision.action == "frozen"
    assert "2 predictions by v1 were served and the day's outcomes have landed" in decision.reason
    assert "2 by v2" in decision.reason


def test_a_range_is_decided_day_by_day():
    def on(day: date, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(flight_date=pd.Timestamp(day))

    d1, d2, d3 = DAY, date(2013, 3, 2), date(2013, 3, 3)
    stored = pd.concat([on(d1, scores("v1", 0.2, 0.7)), on(d2, scores("v1", 0.2, 0.7))])
    new = pd.concat([on(d1, scores("v1", 0.2, 0.7)), on(d2, scores("v2", 0.3, 0.6)),
                     on(d3, scores("v2", 0.4))])
    decisions = serving_decisions([d1, d2, d3], stored, new, labeled_days={d2})
    assert {day: d.action for day, d in decisions.items()} == {
        d1: "keep", d2: "frozen", d3: "write"}


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
