"""Predictions before the flight: what is known when, end to end through Dagster.

(a) a day is served from its schedule alone, before any outcome of it exists, and stays as
    served when its outcomes land;
(b) its predictions are the same bytes whether or not the outcomes and weather of that day and
    every later day are in the warehouse;
(c) cancelled flights are scored, and labeled not on time;
(d) realized performance credits each served row to the version that served it.
"""

import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from assets import keys
from assets.serve.predictions import served_after_landing
from core.gate import registry
from core.ingest.upstream import land_days
from core.serve.serving import ServingDecision
from resources.landing import LandingZone
from tests.conftest import CLASSIFIER
from tools.sandbox import SMALL_WINDOW

MODEL = keys.ModelKeys(CLASSIFIER)
SCHEDULE_ONLY = [keys.raw_key("schedule"), keys.STAGING["stg_schedule"], keys.FEATURES]
THE_DAY_AFTER = [keys.raw_key("outcomes"), keys.raw_key("weather"),
                 keys.STAGING["stg_outcomes"], keys.STAGING["stg_weather"], keys.LABELS,
                 keys.WEATHER_AT_DEPARTURE, keys.FEATURES]
DBT_DAILY = [keys.STAGING["stg_schedule"], keys.STAGING["stg_outcomes"],
             keys.STAGING["stg_weather"], keys.LABELS, keys.WEATHER_AT_DEPARTURE, keys.FEATURES]


def served_rows(platform, day: date) -> list[tuple]:
    return platform.query("select * from ml.not_on_time_predictions where flight_date = ? order by flight_id",
                          [day])


def with_champion(built_platform, root, cutoff="2013-02-03"):
    platform = built_platform.clone(root, SMALL_WINDOW)
    assert platform.train(cutoff, models=[MODEL]).success and platform.promote([MODEL]).success
    return platform


def test_a_day_is_served_from_its_schedule_and_stays_as_served_when_it_has_flown(
    built_platform, tmp_path
):
    platform = with_champion(built_platform, tmp_path)
    day = date(2013, 2, 13)  # the built deployment has data through Feb 12
    land_days(platform.settings.landing_dir, day, day, datasets=("schedule",))

    assert platform.execute(SCHEDULE_ONLY, partition_key=str(day)).success
    assert platform.execute([MODEL.predictions], partition_key=str(day)).success
    served = served_rows(platform, day)
    scheduled = platform.query("select count(*) from raw.schedule where partition_date = ?", [day])
    assert len(served) == scheduled[0][0] > 500
    assert platform.query("select count(*) from raw.outcomes where partition_date >= ?",
                          [day]) == [(0,)]  # nothing of the day had happened

    # The day flies; its outcomes and weather land, labels and features are rebuilt, and the
    # automation would score it again: what was served stays, down to its time.
    land_days(platform.settings.landing_dir, day, day, datasets=("outcomes", "weather"))
    assert platform.execute(THE_DAY_AFTER, partition_key=str(day)).success
    rescored = platform.execute([MODEL.predictions], partition_key=str(day))
    assert rescored.success
    assert served_rows(platform, day) == served
    decision = rescored.get_asset_materialization_events()[0].event_specific_data \
        .materialization.metadata["decision"].value
    assert decision.startswith("keep")
    assert platform.execute([MODEL.realized_performance], partition_key=str(day)).success
    assert platform.query("select model_version, rows from monitoring.not_on_time_realized_performance") == [
        (served[0][2], len(served))]


def test_predictions_do_not_change_when_the_day_and_the_future_change(built_platform, tmp_path):
    platform = with_champion(built_platform, tmp_path)
    day, last = date(2013, 2, 10), date(2013, 2, 12)
    assert platform.execute([MODEL.predictions], partition_key=str(day)).success
    before = served_rows(platform, day)
    next_day_before = platform.query_frame(
        "select * from features.flight_features where flight_date = ?", [day + timedelta(1)])

    # Everything from the day on becomes absurd: every flight 999 minutes late, 500 F outside.
    with platform.warehouse.transaction() as con:
        con.execute("update raw.outcomes set arr_delay = 999, dep_delay = 999"
                    " where partition_date >= ? and dep_time is not null", [day])
        con.execute("update raw.weather set temp = 500, pressure = 900, visib = 0"
                    " where partition_date >= ?", [day])
        con.execute("delete from ml.not_on_time_predictions where flight_date = ?", [day])  # score afresh
    assert platform.execute(DBT_DAILY, partition_range=(str(day), str(last))).success
    assert platform.query("select bool_and(is_late) from labels.flight_labels"
                          " where flight_date = ?", [day]) == [(True,)]  # the change is in

    assert platform.execute([MODEL.predictions], partition_key=str(day)).success
    after = served_rows(platform, day)
    assert [row[:6] for row in after] == [row[:6] for row in before]  # the probability to the last bit
    # The day after does see the changed day: the comparison could have failed.
    next_day_after = platform.query_frame(
        "select * from features.flight_features where flight_date = ?", [day + timedelta(1)])
    assert (next_day_after["origin_late_rate_1d"] == 1.0).all()
    assert not next_day_after["temp_last"].equals(next_day_before["temp_last"])


@pytest.fixture(scope="module")
def served_by_two_versions(built_platform, tmp_path_factory):
    """v1 (cutoff Feb 3) serves Feb 5..9; v2 (cutoff Feb 10) is made champion and serves
    Feb 10..12; realized performance of Feb 5..12."""
    platform = with_champion(built_platform, tmp_path_factory.mktemp("two-versions"))
    assert platform.execute([MODEL.predictions], partition_range=("2013-02-05", "2013-02-09")).success
    assert platform.train("2013-02-10", models=[MODEL]).success
    with platform.warehouse.transaction() as con:
        v1 = registry.current_champion(con, CLASSIFIER).version
        v2 = registry.newest_model(con, CLASSIFIER).version
        registry.make_champion(con, v2)
    assert v1 != v2
    assert platform.execute([MODEL.predictions], partition_range=("2013-02-10", "2013-02-12")).success
    assert platform.execute([MODEL.realized_performance],
                            partition_range=("2013-02-05", "2013-02-12")).success
    return SimpleNamespace(platform=platform, v1=v1, v2=v2)


def test_cancelled_flights_are_scored_and_labeled_not_on_time(served_by_two_versions):
    platform = served_by_two_versions.platform
    cancelled = platform.query(
        "select count(*), count(p.flight_id), bool_and(l.is_late) from labels.flight_labels l"
        " left join ml.not_on_time_predictions p using (flight_id, flight_date)"
        " where l.is_cancelled and l.flight_date between '2013-02-05' and '2013-02-12'")
    assert cancelled[0][0] > 100  # Feb 8's blizzard
    assert cancelled == [(cancelled[0][0], cancelled[0][0], True)]


def test_realized_performance_uses_only_the_version_that_served_each_row(served_by_two_versions):
    platform, v1, v2 = (served_by_two_versions.platform, served_by_two_versions.v1,
                        served_by_two_versions.v2)
    stored = platform.query("select flight_date, model_version, rows, auc"
                            " from monitoring.not_on_time_realized_performance order by 1")
    assert [(str(day), version) for day, version, _, _ in stored] == [
        *[(f"2013-02-{d:02d}", v1) for d in range(5, 10)],
        *[(f"2013-02-{d:02d}", v2) for d in range(10, 13)]]
    # Each day's figures are those of the rows its version served, recomputed here.
    from sklearn.metrics import roc_auc_score

    for day, version, rows, auc in stored:
        frame = platform.query_frame(
            "select p.prediction, l.is_late from ml.not_on_time_predictions p join labels.flight_labels l"
            " using (flight_id, flight_date) where p.flight_date = ? and p.model_version = ?",
            [day, version])
        assert rows == len(frame) > 0
        assert auc == pytest.approx(roc_auc_score(frame["is_late"], frame["prediction"]), abs=1e-12)


def test_each_served_day_is_estimated_before_its_labels_and_the_error_kept_after(
        served_by_two_versions):
    """Confidence-based estimation: the AUC expected from the served probabilities (calibrated
    on the version's holdout) beside the realized AUC, and the difference between them."""
    platform = served_by_two_versions.platform
    stored = platform.query_frame(
        "select flight_date, model_version, served_rows, rows, auc, estimated_auc,"
        " estimated_positive_rate, positive_rate, estimate_error"
        " from monitoring.not_on_time_realized_performance order by 1")
    assert len(stored) == 8 and (stored["served_rows"] >= stored["rows"]).all()
    assert stored["estimated_auc"].between(0.5, 1).all()
    assert (stored["estimate_error"] - (stored["auc"] - stored["estimated_auc"])).abs().max() < 1e-12
    # On days like its holdout the estimate is near what happened (not on a blizzard day).
    assert stored["estimate_error"].abs().median() < 0.08
    assert (stored["estimated_positive_rate"] - stored["positive_rate"]).abs().median() < 0.15
    metadata = platform.instance.get_latest_materialization_event(
        MODEL.realized_performance).asset_materialization.metadata
    assert metadata["estimate_checked_days"].value == 8
    assert "data:image/png;base64," in metadata["estimated_vs_realized_auc_plot"].value


def test_the_latency_after_landing_is_reported_only_for_a_day_served_ahead(tmp_path):
    landing = LandingZone(path=str(tmp_path / "landing"), quarantine_path=str(tmp_path / "q"))
    day = date(2013, 3, 2)
    land_days(tmp_path / "landing", day, day, datasets=("schedule",))
    write, keep = ServingDecision("write", "first"), ServingDecision("keep", "same")
    served_at = datetime.now(timezone.utc).replace(tzinfo=None)
    # The outcomes of the day before have not landed: the day is not yet servable as landed.
    assert served_after_landing(landing, write, day, served_at, lead_days=1) is None
    land_days(tmp_path / "landing", day - timedelta(days=1), day - timedelta(days=1),
              datasets=("outcomes",))
    landed = landing.landed_at(day, lead_days=1)
    later = datetime.fromtimestamp(landed + 7.5, tz=timezone.utc).replace(tzinfo=None)
    assert served_after_landing(landing, write, day, later, lead_days=1) == 7.5
    assert served_after_landing(landing, keep, day, later, lead_days=1) is None  # a backfill


def test_a_version_is_not_served_an_input_it_learned_but_does_not_get(built_platform, tmp_path):
    """Training-serving skew: the evening before Feb 12 the origin's pressure is missing for
    every flight (the feed stopped, or the input was only ever filled in hindsight), but the
    champion learned it filled. Serving that version is refused, naming the input; nothing of
    the day is stored, the version is marked, and the failed run alerts."""
    from dagster import DagsterEventType, build_run_status_sensor_context

    from sensors.alerts import build_alert_sensor

    platform = with_champion(built_platform, tmp_path)
    day = date(2013, 2, 12)
    with platform.warehouse.transaction() as con:
        con.execute("update features.flight_features set pressure_last = null"
                    " where flight_date = ?", [day])
    refused = platform.execute([MODEL.predictions], partition_key=str(day))
    assert not refused.success
    (failure,) = [event.step_failure_data.error.message for event in refused.all_events
                  if event.is_step_failure]
    assert "training-serving skew: pressure_last (null for 100% of the served rows" in failure
    # Only the input that went missing: not the gusts, missing on calm days in training too.
    assert "temp_last" not in failure and "gust" not in failure
    assert platform.query("select count(*) from information_schema.tables"
                          " where table_name = 'not_on_time_predictions'") == [(0,)]
    with platform.warehouse.connect(read_only=True) as con:
        champion = registry.current_champion(con, CLASSIFIER)
    assert champion.checks[registry.SERVING_SKEW]["passed"] is False

    run = platform.instance.get_run_by_id(refused.run_id)
    event = platform.instance.all_logs(refused.run_id, of_type=DagsterEventType.RUN_FAILURE)[0]
    alerts = tmp_path / "alerts.jsonl"
    build_alert_sensor(alerts)(build_run_status_sensor_context(
        sensor_name="alert_on_run_failure", dagster_instance=platform.instance, dagster_run=run,
        dagster_event=event.dagster_event).for_run_failure())
    (reason,) = json.loads(alerts.read_text())["reasons"]
    assert reason.startswith("2013-02-12..2013-02-12: the champion") and "pressure_last" in reason
