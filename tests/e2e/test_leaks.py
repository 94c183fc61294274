"""No leak reaches a model: the careless analyst's inputs, through Dagster.

An analyst adds two model inputs that read what is not known at the prediction time, each
with its unit-test expectations written from what the SQL returns (so dbt's own unit test
passes, as it did in the issue that found this):

- ``dep_delay_actual``: the flight's own departure delay, joined from stg_outcomes on the same
  day (the graph rule catches the same-day read of a parent that lands after the day);
- ``carrier_late_rate_7d``: the carrier's late share over the 7 days up to and including D,
  from flight_labels, which the model declares it reads (days_read), so no graph rule can
  tell: only the rebuild as of the prediction time does.

The rebuild the automation asks for (as the daemon would) fails its blocking point-in-time
check naming both columns, the day's predictions in the same run are not made, and the next
training refuses to make a training set, naming them again. The legitimate input's path is
tests/e2e/test_dbt_edit.py.
"""

from dagster import evaluate_automation_conditions

from assets import keys
from core.gate import registry
from tests.conftest import CLASSIFIER
from tests.dbt_edits import add_input, project_copy
from tools.sandbox import SMALL_WINDOW, Platform

MODEL = keys.ModelKeys(CLASSIFIER)
SAME_DAY_OUTCOME = add_input(
    "dep_delay_actual", "outcomes.dep_delay", {"same_day": 30.0},
    joins="left join {{ ref('stg_outcomes') }} as outcomes"
          " on scheduled.flight_id = outcomes.flight_id",
    fixtures="      - input: ref('stg_outcomes')\n        rows:\n"
             "          - {flight_id: same_day, flight_date: 2013-03-01, dep_delay: 30}")
RATE_INCLUDING_THE_DAY = add_input(
    "carrier_late_rate_7d", "carrier_7d.late_flights * 1.0 / nullif(carrier_7d.flights, 0)",
    # Mar 1: Feb 23 .. Mar 1 = late_a, late_b, same_day, target (3 late); Mar 2: and next_day
    {"same_day": 0.75, "target": 0.75, "next_day": 0.8},
    ctes="recent_labels as (\n    select planned.flight_date, planned.carrier,"
         " case when labels.is_late then 1 else 0 end as late\n"
         "    from {{ ref('flight_labels') }} as labels\n"
         "    inner join {{ ref('stg_schedule') }} as planned"
         " on labels.flight_id = planned.flight_id\n"
         "    where labels.flight_date between {{ dbt.dateadd('day', -7, window_start()) }}"
         " and {{ window_end() }} and labels.is_late is not null\n),\n\n"
         "carrier_7d as (\n    {{ late_history('scheduled', 'recent_labels', ['carrier'], 7, 0) }}\n)",
    joins="left join carrier_7d on scheduled.carrier = carrier_7d.carrier"
          " and scheduled.flight_date = carrier_7d.flight_date")
LEAKS = ("dep_delay_actual", "carrier_late_rate_7d")


def test_inputs_not_known_at_the_prediction_time_are_stopped_before_any_model_trains(
        built_platform, tmp_path, definitions_module, runner):
    platform = built_platform.clone(tmp_path / "deployment", SMALL_WINDOW)
    assert platform.train("2013-02-03", models=[MODEL]).success
    assert platform.promote([MODEL]).success
    # The daemon has been evaluating the automation conditions before the edit.
    cursor = evaluate_automation_conditions(platform.defs, platform.instance).cursor
    project = project_copy(tmp_path / "dbt_edited", platform.settings.dbt_executable,
                           SAME_DAY_OUTCOME, RATE_INCLUDING_THE_DAY)
    edited = Platform(platform.root, definitions_module, runner, SMALL_WINDOW,
                      dbt_project_dir=project)

    # The analyst's edit changed the features' code version: the automation rebuilds them.
    requested = evaluate_automation_conditions(edited.defs, edited.instance, cursor=cursor)
    days = sorted(requested.get_requested_partitions(keys.FEATURES))
    assert days[0] == "2013-01-01" and days[-1] == "2013-02-12"
    rebuild = edited.execute([*keys.STAGING.values(), keys.LABELS, keys.FEATURES,
                              MODEL.predictions], partition_range=(days[0], days[-1]))
    assert not rebuild.success
    (check,) = [event.event_specific_data for event in rebuild.all_events
                if event.event_type_value == "ASSET_CHECK_EVALUATION"
                and event.event_specific_data.check_name == "known_by_prediction_time"]
    assert not check.passed and check.blocking
    assert sorted(check.metadata["failed_columns"].value) == sorted(LEAKS)
    audit = check.metadata["audit"].value
    assert "reads stg_outcomes on the flight's own day D" in audit
    # What the rows held: the day's own delay once it landed; nothing the evening before.
    assert "dep_delay_actual:" in audit and "None with only what was known then" in audit
    # The blocking check stopped the day's predictions in the same run.
    assert not [e for e in rebuild.all_events if e.is_step_success
                and e.step_key == keys.ModelKeys.op_name(MODEL, MODEL.predictions)]
    # The leaks are in the stored features: the check judged what dbt really built.
    assert edited.query("select count(dep_delay_actual) > 0, count(carrier_late_rate_7d) > 0"
                        " from features.flight_features") == [(True, True)]

    training = edited.train("2013-02-10", models=[MODEL])
    assert not training.success
    (failure,) = [event.step_failure_data.error.message for event in training.all_events
                  if event.is_step_failure]
    assert "no training set is made" in failure and all(leak in failure for leak in LEAKS)
    with edited.warehouse.connect(read_only=True) as con:
        assert [model.cutoff for model in registry.models_in_creation_order(con, CLASSIFIER)
                ] == [registry.current_champion(con, CLASSIFIER).cutoff]  # no new version
