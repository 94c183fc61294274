"""The sensors: their planning called directly, then one real tick each against a real instance.

No wall-clock waits: a "tick" is a direct evaluation of the sensor with a cursor, as the daemon
would do it on its own clock (tests/loop.py).
"""

import json
from datetime import date

from dagster import (
    AssetKey,
    DagsterEventType,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
)

from assets.monitoring import DRIFT_KEY
from resources.landing import land_days, landing_path
from resources.model_store import ModelPolicy
from sensors.alerts import build_alert_sensor
from sensors.new_data import requests_for_changes
from tests.loop import tick_drift, tick_new_data

FLIGHTS, WEATHER = AssetKey(["raw", "flights"]), AssetKey(["raw", "weather"])
PREDICTIONS = AssetKey(["ml", "predictions"])
VALID_DAYS = {"2013-03-01", "2013-03-02", "2013-03-03"}


# --- the new-data sensor's planning ----------------------------------------------------------

def test_one_request_per_day_with_new_or_changed_files():
    seen = {"flights/2013-03-01": "aaa", "weather/2013-03-01": "bbb"}
    found = {"flights/2013-03-01": "aaa", "weather/2013-03-01": "BBB",  # weather corrected
             "flights/2013-03-02": "ccc", "weather/2013-03-02": "ddd"}  # a new day
    requests, ignored = requests_for_changes(seen, found, VALID_DAYS)
    assert [(r.partition_key, r.asset_selection) for r in requests] == [
        ("2013-03-01", [WEATHER]), ("2013-03-02", [FLIGHTS, WEATHER])]
    assert ignored == []
    # The run key names the day and the content: a new correction is a new run, a repeat is not.
    assert requests[0].run_key == "2013-03-01:weather=BBB"
    assert requests[1].run_key == "2013-03-02:flights=ccc,weather=ddd"


def test_nothing_is_requested_for_files_already_seen():
    seen = {"flights/2013-03-01": "aaa"}
    assert requests_for_changes(seen, dict(seen), VALID_DAYS) == ([], [])


def test_files_for_days_outside_the_partitions_are_ignored_and_named():
    requests, ignored = requests_for_changes({}, {"flights/2014-01-01": "eee"}, VALID_DAYS)
    assert requests == [] and ignored == ["flights/2014-01-01.csv (no such daily partition)"]


# --- ticks against a real instance -----------------------------------------------------------

def test_new_data_sensor_hashes_the_landing_zone_and_keeps_its_cursor(tmp_path, new_platform):
    instance = new_platform().instance
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 3, 1), date(2013, 3, 2))

    requests, cursor = tick_new_data(instance, landing, None)
    assert [r.partition_key for r in requests] == ["2013-03-01", "2013-03-02"]
    assert tick_new_data(instance, landing, cursor)[0] == []  # nothing new
    land_days(landing, date(2013, 3, 1), date(2013, 3, 2))  # identical re-delivery
    assert tick_new_data(instance, landing, cursor)[0] == []

    changed = landing_path(landing, "flights", date(2013, 3, 2))  # a corrected file
    changed.write_text(changed.read_text().replace(",UA,", ",DL,", 1))
    requests, cursor = tick_new_data(instance, landing, cursor)
    assert [(r.partition_key, r.asset_selection) for r in requests] == [("2013-03-02", [FLIGHTS])]
    assert tick_new_data(instance, landing, cursor)[0] == []


def test_new_data_sensor_starts_from_what_the_warehouse_holds(built_platform):
    """The first tick (no cursor) does not re-request days already ingested (raw.ingest_log)."""
    settings = built_platform.settings
    requests, cursor = tick_new_data(built_platform.instance, settings.landing_dir, None,
                                     settings.warehouse_path)
    assert requests == []
    assert len(json.loads(cursor)) == 2 * 43  # flights and weather, Jan 1 .. Feb 12


def _drift_metadata(platform):
    event = platform.instance.get_latest_materialization_event(DRIFT_KEY)
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_drift_sensor_fires_on_a_shift_once_and_stays_quiet_without_one(built_platform, tmp_path):
    # The champion learned from Jan 1 .. Feb 2, and the drift window is those same days: the
    # unshifted case. (A shorter window inside January would differ on route_flights_28d, which
    # grows from zero while the data set's first 28 days fill the route history.)
    policy = ModelPolicy(auc_floor=0.5, drift_window_days=33)
    platform = built_platform.clone(tmp_path, policy)
    assert platform.train("2013-02-03").success and platform.promote().success
    window = ("2013-01-01", "2013-02-02")
    assert platform.execute([PREDICTIONS, DRIFT_KEY], partition_range=window).success

    report = _drift_metadata(platform)
    assert report["drift"] is False and report["max_psi"] < 0.25, report
    result, cursor = tick_drift(platform.instance, None)
    assert isinstance(result, SkipReason) and "no drift" in result.skip_message

    # Same days, warmer by 30°F: the weather has moved away from what the model learned.
    with platform.warehouse.transaction() as con:
        con.execute("update features.flight_features set temp = temp + 30"
                    " where flight_date between ? and ?", list(window))
    assert platform.execute([DRIFT_KEY], partition_range=window).success
    report = _drift_metadata(platform)
    assert report["drift"] is True and "temp" in report["reason"]
    assert "data:image/png;base64," in report["psi_plot"]

    request, cursor = tick_drift(platform.instance, cursor)
    assert isinstance(request, RunRequest)
    assert request.partition_key == "2013-02-03"  # newest cutoff with a week of labels by Feb 12
    assert request.tags["retrain/reason"].startswith("drift: PSI > 0.25 on temp")
    assert float(request.tags["drift/max_psi"]) > 0.25

    # The same drift again, before a new model exists: no second request.
    assert platform.execute([DRIFT_KEY], partition_range=window).success
    again, cursor = tick_drift(platform.instance, cursor)
    assert isinstance(again, SkipReason) and "already requested" in again.skip_message


def test_a_failed_run_writes_an_alert(new_platform, tmp_path):
    platform = new_platform()
    platform.land(date(2013, 3, 1), date(2013, 3, 1))
    landing_path(platform.settings.landing_dir, "flights", date(2013, 3, 1)).write_text("")
    failed = platform.execute([FLIGHTS], partition_key="2013-03-01")
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
    assert alert["steps"] == ["raw__flights"]
