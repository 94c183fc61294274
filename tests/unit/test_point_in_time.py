"""What is known when, checked (core/transform/point_in_time.py): the rules read from dbt's manifest,
the comparison of stored rows with a rebuild as of the prediction time, the audit's identity.
Called directly, on the repo's manifest and on edited copies of it."""

import copy
import json
from datetime import date, timedelta

import pandas as pd
import pytest

from core.ingest.contract import DAILY_DATASETS, lands_at_end_of, last_known_day
from core.ingest.upstream import delivery_timeline
from core.transform.model_inputs import declared_inputs, inputs_of, model_node
from core.transform.point_in_time import (
    ROWS,
    as_of,
    audit_key,
    compare,
    same_day_reads_after_the_day,
    sample_days,
    unit_test_gaps,
)
from resources.settings import REPO_ROOT

MANIFEST = json.loads((REPO_ROOT / "dbt_project" / "target" / "manifest.json").read_text())
MODEL = "flight_features"
FEATURES_ID = "model.flight_delays.flight_features"


def test_day_d_is_predicted_from_its_schedule_and_the_outcomes_and_weather_before_it():
    assert as_of(date(2013, 3, 10), lead_days=1) == {
        "schedule": date(2013, 3, 10), "outcomes": date(2013, 3, 9), "weather": date(2013, 3, 9)}
    assert as_of(date(2013, 3, 10), lead_days=2)["outcomes"] == date(2013, 3, 8)


@pytest.mark.parametrize("lead", [1, 2])
def test_the_simulator_delivers_each_file_when_the_contract_says_it_lands(lead):
    """The timeline the world plays and the rule the audit applies are one fact: the files
    come in the order of the days at whose end they land, and a file is known at a day's
    prediction time exactly when it has landed by then."""
    timeline = delivery_timeline(date(2013, 3, 1), date(2013, 3, 20), lead)
    landed = [lands_at_end_of(DAILY_DATASETS[dataset], day, lead) for dataset, day in timeline]
    assert landed == sorted(landed)
    for (dataset, day), end_of in zip(timeline, landed, strict=True):
        predicted = end_of + timedelta(days=lead)  # whose prediction time is that evening
        assert last_known_day(DAILY_DATASETS[dataset], predicted, lead) == day


def _with_parent(manifest, parent_id, days_read=None):
    edited = copy.deepcopy(manifest)
    edited["parent_map"][FEATURES_ID].append(parent_id)
    if days_read is not None:
        edited["nodes"][FEATURES_ID]["config"]["meta"]["days_read"] = days_read
    return edited


def test_the_feature_model_reads_nothing_that_lands_after_the_day_on_the_day_itself():
    assert same_day_reads_after_the_day(MANIFEST, MODEL) == []
    leaky = _with_parent(MANIFEST, "model.flight_delays.stg_outcomes")
    (problem,) = same_day_reads_after_the_day(leaky, MODEL)
    assert "reads stg_outcomes on the flight's own day D" in problem and "days_read" in problem
    # The labels land after their day too (they are built from the outcomes): read on day D
    # itself, refused; read up to D - lead through days_read, as the repo's model does, fine.
    meta = MANIFEST["nodes"][FEATURES_ID]["config"]["meta"]
    shifted = _with_parent(MANIFEST, "model.flight_delays.stg_outcomes",
                           {**meta["days_read"], "stg_outcomes": 1})
    assert same_day_reads_after_the_day(shifted, MODEL) == []
    without_labels = {k: v for k, v in meta["days_read"].items() if k != "flight_labels"}
    edited = copy.deepcopy(MANIFEST)
    edited["nodes"][FEATURES_ID]["config"]["meta"]["days_read"] = without_labels
    assert "reads flight_labels" in same_day_reads_after_the_day(edited, MODEL)[0]


def test_the_point_in_time_unit_test_must_expect_every_declared_input():
    inputs = declared_inputs(REPO_ROOT / "dbt_project" / "target" / "manifest.json")
    assert unit_test_gaps(MANIFEST, MODEL, inputs) == []
    edited = copy.deepcopy(MANIFEST)
    test = next(t for t in edited["unit_tests"].values() if t["model"] == MODEL)
    for row in test["expect"]["rows"]:
        row.pop("temp_last")
    (gap,) = unit_test_gaps(edited, MODEL, inputs)
    assert "expects no value for the declared input(s) temp_last" in gap
    del edited["nodes"][FEATURES_ID]["config"]["meta"]["point_in_time_unit_test"]
    assert "no point-in-time unit test is named" in unit_test_gaps(edited, MODEL, inputs)[0]


def test_the_audit_is_asked_again_when_anything_upstream_changes_and_only_then():
    inputs = inputs_of(model_node(MANIFEST, MODEL))
    key = audit_key(MANIFEST, MODEL, inputs, 1)
    assert audit_key(copy.deepcopy(MANIFEST), MODEL, inputs, 1) == key
    upstream = copy.deepcopy(MANIFEST)
    upstream["nodes"]["model.flight_delays.stg_outcomes"]["checksum"]["checksum"] = "edited"
    macro = copy.deepcopy(MANIFEST)
    macro["macros"]["macro.flight_delays.late_history"]["macro_sql"] += " -- edited"
    fewer = inputs_of(model_node(MANIFEST, MODEL)).__class__(inputs.numeric[1:],
                                                             inputs.categorical)
    assert len({key, audit_key(upstream, MODEL, inputs, 1), audit_key(macro, MODEL, inputs, 1),
                audit_key(MANIFEST, MODEL, fewer, 1), audit_key(MANIFEST, MODEL, inputs, 2)}) == 5
    # A model outside the feature model's ancestry does not change its audit.
    unrelated = copy.deepcopy(MANIFEST)
    unrelated["nodes"]["model.flight_delays.weather_at_departure"]["checksum"]["checksum"] = "x"
    assert audit_key(unrelated, MODEL, inputs, 1) == key


def _rows(**columns):
    return pd.DataFrame({"flight_id": ["a", "b", "c"], "flight_date": pd.to_datetime(
        ["2013-03-01", "2013-03-01", "2013-03-02"]), **columns})


def test_a_column_that_differs_is_named_with_its_days_and_an_example():
    stored = _rows(rate=[0.5, 0.25, 0.1], delay=[12.0, -3.0, 40.0], origin=["EWR", "JFK", "LGA"])
    known = _rows(rate=[0.5, 0.25 + 1e-13, 0.1], delay=[None, None, 40.0],
                  origin=["EWR", "JFK", "LGA"])
    (difference,) = compare(stored, known)  # 1e-13 is the order of a sum, not a leak
    assert (difference.column, difference.days, difference.rows) == ("delay", (date(2013, 3, 1),), 2)
    assert difference.example == {"flight_id": "a", "left": 12.0, "right": None}
    assert ("12.0 with what landed later, None with only what was known then"
            in difference.describe())


def test_flights_and_columns_only_one_side_has_are_differences_too():
    stored = _rows(rate=[0.5, 0.25, 0.1])
    known = _rows(rate=[0.5, 0.25, 0.1], new_input=[1.0, 2.0, 3.0]).iloc[:2]
    found = {d.column: d for d in compare(stored, known)}
    assert set(found) == {ROWS, "new_input"}
    assert found[ROWS].example == {"flight_id": "c", "left": "present", "right": "absent"}
    assert found["new_input"].example["left"] == "no such column"


def test_audited_days_spread_over_the_window_and_include_the_newest():
    days = [date(2013, 3, d) for d in range(1, 31)]
    assert sample_days(days, 3) == [date(2013, 3, 1), date(2013, 3, 15), date(2013, 3, 30)]
    assert sample_days(days[:2], 3) == days[:2] and sample_days(days, 1) == [days[-1]]
