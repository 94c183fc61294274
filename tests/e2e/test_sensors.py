"""The sensors, one real tick each against a real instance (their planning alone:
tests/unit/test_ingest_plan.py).

No wall-clock waits: a "tick" is a direct evaluation of the sensor with a cursor, as the daemon
would do it on its own clock (tools/ticks.py).
"""

import json
import time
from datetime import date

from dagster import (
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
)
from dagster._core.utils import make_new_run_id

from assets import keys
from assets.ingest import landing_batch
from assets.ingest.landing_batch import LANDING_BATCH_TAG, WAITS_TAG
from assets.keys import ModelKeys, raw_key
from core.ingest.contract import landing_path
from core.ingest.upstream import deliver_days, land_days
from sensors.alerts import build_alert_sensor
from tests.conftest import CLASSIFIER
from tools import ticks
from tools.sandbox import SMALL_WINDOW

tick_new_data = ticks.tick_new_data
MODEL = ModelKeys(CLASSIFIER)
DRIFT_REPORT, PREDICTIONS = MODEL.drift_report, MODEL.predictions


def tick_retrain(platform):
    return ticks.tick_sensor(platform.defs, f"retrain_on_evidence_{CLASSIFIER}",
                              platform.instance, None)


SCHEDULE, OUTCOMES, WEATHER = (raw_key(name) for name in ("schedule", "outcomes", "weather"))

def test_new_data_sensor_hashes_the_landing_zone_and_keeps_its_cursor(tmp_path, new_platform):
    platform = new_platform()
    defs, instance = platform.defs, platform.instance
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 3, 1), date(2013, 3, 2))

    requests, cursor = tick_new_data(defs, instance, landing, None)
    assert [r.partition_key for r in requests] == ["2013-03-01", "2013-03-02"]
    assert all(set(r.asset_selection) == {SCHEDULE, OUTCOMES, WEATHER} for r in requests)
    assert len({r.tags[LANDING_BATCH_TAG] for r in requests}) == 1  # one landing
    assert not [r for r in requests if WAITS_TAG in r.tags]  # no day ahead to serve
    assert tick_new_data(defs, instance, landing, cursor)[0] == []  # nothing new
    land_days(landing, date(2013, 3, 1), date(2013, 3, 2))  # identical re-delivery
    assert tick_new_data(defs, instance, landing, cursor)[0] == []

    changed = landing_path(landing, "weather", date(2013, 3, 2))  # a corrected file
    changed.write_text(changed.read_text().replace(",35.96,", ",36.5,", 1))
    requests, cursor = tick_new_data(defs, instance, landing, cursor)
    assert [(r.partition_key, r.asset_selection) for r in requests] == [("2013-03-02", [WEATHER])]
    assert tick_new_data(defs, instance, landing, cursor)[0] == []


def test_new_data_sensor_starts_from_what_the_warehouse_holds(built_platform):
    """The first tick (no cursor) does not re-request days already ingested (raw.ingest_log)."""
    settings = built_platform.settings
    requests, cursor = tick_new_data(built_platform.defs, built_platform.instance,
                                     settings.landing_dir, None,
                                     settings.warehouse_path)
    assert requests == []
    assert len(json.loads(cursor)) == 3 * 43  # the three feeds, Jan 1 .. Feb 12


def test_a_landed_day_is_served_by_its_landing_runs_alone(built_platform, tmp_path, monkeypatch):
    """The end of Feb 13 (its outcomes and weather) and Feb 14's schedule: two runs; the serving
    one builds its features only once the other is done, and Feb 14 is served from features that
    read Feb 13's labels, with no automation tick."""
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    assert platform.train("2013-02-03", models=[MODEL]).success
    assert platform.promote([MODEL]).success
    landing, day = platform.settings.landing_dir, date(2013, 2, 13)
    started = time.time()
    _, cursor = tick_new_data(platform.defs, platform.instance, landing, None,
                              platform.settings.warehouse_path)
    # Feb 13's schedule, published the day before: one run serves it.
    land_days(landing, day, day, datasets=("schedule",))
    (ahead,), cursor = tick_new_data(platform.defs, platform.instance, landing, cursor)
    assert ahead.partition_key == "2013-02-13" and PREDICTIONS in ahead.asset_selection
    assert ticks.execute_requests(platform, [ahead])

    deliver_days(landing, day, day)  # Feb 13 passes: its outcomes, and Feb 14's schedule
    requests, _ = tick_new_data(platform.defs, platform.instance, landing, cursor)
    ingest, serve = requests
    assert (ingest.partition_key, set(ingest.asset_selection)) == ("2013-02-13", {OUTCOMES, WEATHER})
    assert serve.partition_key_range.start == "2013-02-13"
    assert serve.partition_key_range.end == "2013-02-14"
    assert {SCHEDULE, PREDICTIONS, MODEL.shadow_predictions, keys.LABELS,
            keys.FEATURES} <= set(serve.asset_selection)
    assert serve.tags[WAITS_TAG] == "true" and WAITS_TAG not in ingest.tags
    assert serve.tags[LANDING_BATCH_TAG] == ingest.tags[LANDING_BATCH_TAG]

    # While the landing's other run is not finished, the serving run does not build.
    ingesting = DagsterRun(job_name="__ASSET_JOB", run_id=make_new_run_id(),
                           status=DagsterRunStatus.STARTED, tags=ingest.tags)
    platform.instance.add_run(ingesting)
    monkeypatch.setattr(landing_batch, "WAIT_TRIES", 1)
    monkeypatch.setattr(landing_batch, "WAIT_SECONDS", 0)
    assert not ticks.execute_requests(platform, [serve])
    assert platform.query("select count(*) from ml.not_on_time_predictions"
                          " where flight_date = '2013-02-14'") == [(0,)]
    platform.instance.delete_run(ingesting.run_id)

    assert ticks.execute_requests(platform, requests)
    served = platform.query(
        "select count(*), min(model_version) from ml.not_on_time_predictions"
        " where flight_date = '2013-02-14'")
    assert served[0][0] > 500
    # Operators see how long after its landing the day was served (plotted over days).
    latency = platform.instance.get_latest_materialization_event(PREDICTIONS) \
        .asset_materialization.metadata["served_after_landing_s"].value
    assert 0 < latency < time.time() - started
    # The features of Feb 14 read Feb 13's labels, built in the same run.
    assert platform.query("select count(*) from labels.flight_labels"
                          " where flight_date = '2013-02-13'")[0][0] > 500



def test_a_refused_day_ahead_heals_with_its_corrected_file(built_platform, tmp_path):
    """Feb 14's schedule lands with a misspelt header: its serving run fails, and Feb 13's
    labels, which that run was to build, are not built. The supplier's corrected file comes with
    the next landing: that landing's serving run builds them too, and Feb 14 and 15 are served
    (not refused by the serving-skew check for features missing Feb 13's labels)."""
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    assert platform.train("2013-02-03", models=[MODEL]).success
    assert platform.promote([MODEL]).success
    landing, day = platform.settings.landing_dir, date(2013, 2, 13)
    _, cursor = tick_new_data(platform.defs, platform.instance, landing, None,
                              platform.settings.warehouse_path)
    land_days(landing, day, day, datasets=("schedule",))  # Feb 13 served a day ahead
    requests, cursor = tick_new_data(platform.defs, platform.instance, landing, cursor)
    assert ticks.execute_requests(platform, requests)
    deliver_days(landing, day, day)  # Feb 13's outcomes and weather, Feb 14's schedule
    broken = landing_path(landing, "schedule", date(2013, 2, 14))
    broken.write_text(broken.read_text().replace("year,", "yeer,", 1))
    requests, cursor = tick_new_data(platform.defs, platform.instance, landing, cursor)
    assert not ticks.execute_requests(platform, requests)
    reported_feb_13 = ("select count(*) filter (where outcome_reported)"
                       " from labels.flight_labels where flight_date = '2013-02-13'")
    assert platform.query(reported_feb_13) == [(0,)]  # its outcomes are in, its labels not

    deliver_days(landing, date(2013, 2, 14), date(2013, 2, 14))  # Feb 14's schedule again
    requests, _ = tick_new_data(platform.defs, platform.instance, landing, cursor)
    serve = next(r for r in requests if WAITS_TAG in r.tags)
    assert (serve.partition_key_range.start, serve.partition_key_range.end) == (
        "2013-02-13", "2013-02-15")
    assert ticks.execute_requests(platform, requests)
    served = dict(platform.query(
        "select flight_date::varchar, count(*) from ml.not_on_time_predictions"
        " where flight_date in ('2013-02-14', '2013-02-15') group by 1"))
    assert set(served) == {"2013-02-14", "2013-02-15"} and min(served.values()) > 500
    assert platform.query(reported_feb_13)[0][0] > 500


def _drift_metadata(platform):
    event = platform.instance.get_latest_materialization_event(DRIFT_REPORT)
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_retrain_sensor_needs_new_evidence_and_feature_drift_alone_only_warns(built_platform,
                                                                              tmp_path):
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    assert platform.train("2013-02-03", models=[MODEL]).success  # labels through Feb 12
    assert platform.promote([MODEL]).success
    window = ("2013-02-06", "2013-02-12")  # the report of Feb 12: its window's seven days
    assert platform.execute([PREDICTIONS, DRIFT_REPORT], partition_range=window).success
    report = _drift_metadata(platform)
    # The reference is the same length, ending where the champion's training ended.
    assert report["reference_window"] == ("2013-01-27..2013-02-02 (the last days the champion"
                                          " trained on)")
    assert "| p_value |" in report["psi_by_feature"] and "| recent_rows |" in report["psi_by_feature"]
    assert report["retrain"] is False and "| new labels |" in report["triggers"]
    result, _ = tick_retrain(platform)
    assert isinstance(result, SkipReason)
    assert "0 labeled day(s) matured since the last training" in result.skip_message

    # The same days, warmer by 30°F: the weather has moved away from what the model learned.
    with platform.warehouse.transaction() as con:
        con.execute("update features.flight_features set temp_last = temp_last + 30"
                    " where flight_date between ? and ?", list(window))
    assert platform.execute([DRIFT_REPORT], partition_range=window).success
    report = _drift_metadata(platform)
    assert report["feature_drift"] is True and report["retrain"] is False
    assert "temp_last (PSI" in report["reason"], report["reason"]
    assert "data:image/png;base64," in report["psi_plot"]
    result, _ = tick_retrain(platform)
    assert isinstance(result, SkipReason) and result.skip_message.startswith(
        "warning only (PSI beyond 0.25 on")


def test_retrain_sensor_retrains_a_changed_recipe_once(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    assert platform.train("2013-02-03", models=[MODEL]).success
    edited = {CLASSIFIER: {**SMALL_WINDOW[CLASSIFIER],
                           "estimator": {"params": {"max_iter": 120}}}}  # a data scientist's edit
    platform = type(platform)(platform.root, platform._definitions_module, platform.runner, edited)
    request, _ = tick_retrain(platform)
    assert isinstance(request, RunRequest) and request.partition_key == "2013-02-03"
    assert "recipe" in request.tags["retrain/reason"] and request.tags["trigger/recipe"] == "fired"
    again, _ = tick_retrain(platform)
    assert again.run_key == request.run_key  # the daemon launches a run key once


def test_a_failed_run_writes_an_alert(new_platform, tmp_path):
    platform = new_platform()
    platform.land(date(2013, 3, 1), date(2013, 3, 1))
    landing_path(platform.settings.landing_dir, "schedule", date(2013, 3, 1)).write_text("")
    failed = platform.execute([SCHEDULE], partition_key="2013-03-01")
    assert not failed.success

    run = platform.instance.get_run_by_id(failed.run_id)
    failure = platform.instance.all_logs(failed.run_id, of_type=DagsterEventType.RUN_FAILURE)[0]
    context = build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=platform.instance,
        dagster_run=run, dagster_event=failure.dagster_event,
    ).for_run_failure()
    alerts_file = tmp_path / "alerts.jsonl"
    build_alert_sensor(alerts_file)(context)

    (alert,) = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert alert["run_id"] == failed.run_id and alert["partition"] == "2013-03-01"
    assert alert["steps"] == ["raw_daily"]
