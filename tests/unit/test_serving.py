"""What may happen to served predictions when a day is scored again (core/serve/serving.py),
called directly."""

from datetime import date

import pandas as pd

from core.serve.serving import serving_decision, serving_decisions

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






