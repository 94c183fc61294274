"""The loop runs itself: sensors and automation evaluated in-process against a real instance.

No wall-clock waits: each "tick" is a direct evaluation of a sensor or of the automation
conditions, and the runs they request are executed in-process, as the daemon would launch them.
"""

import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetKey,
    DagsterEventType,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    evaluate_automation_conditions,
)
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from assets.drift import psi_categorical, psi_numeric
from assets.monitoring import DRIFT_KEY
from resources import registry
from resources.landing import land_days, landing_path
from resources.model_store import ModelPolicy
from resources.settings import REPO_ROOT
from sensors.alerts import build_alert_sensor
from tests.conftest import Platform
from tests.loop import run_automation_tick, tick_drift, tick_new_data

FIRST_CUTOFF = "2013-02-03"

FEATURES = AssetKey(["features", "flight_features"])
PREDICTIONS = AssetKey(["ml", "predictions"])
RAW = [AssetKey(["raw", "flights"]), AssetKey(["raw", "weather"])]


# --- the new-data sensor ---------------------------------------------------------------------

def test_new_data_sensor_requests_each_new_day_once(tmp_path, new_platform):
    instance = new_platform().instance
    landing = tmp_path / "landing"
    land_days(landing, date(2013, 3, 1), date(2013, 3, 3))

    requests, cursor = tick_new_data(instance, landing, None)
    assert [r.partition_key for r in requests] == ["2013-03-01", "2013-03-02", "2013-03-03"]
    assert all(set(r.asset_selection) == set(RAW) for r in requests)
    assert len({r.run_key for r in requests}) == 3

    assert tick_new_data(instance, landing, cursor)[0] == []  # nothing new
    land_days(landing, date(2013, 3, 1), date(2013, 3, 3))  # identical re-delivery
    assert tick_new_data(instance, landing, cursor)[0] == []

    land_days(landing, date(2013, 3, 4), date(2013, 3, 4))  # a new day ...
    changed = landing_path(landing, "flights", date(2013, 3, 2))  # ... and a corrected file
    changed.write_text(changed.read_text().replace(",UA,", ",DL,", 1))
    (landing / "flights" / "2014-01-01.csv").write_text("not a 2013 day\n")
    requests, cursor = tick_new_data(instance, landing, cursor)
    assert [(r.partition_key, r.asset_selection) for r in requests] == [
        ("2013-03-02", [AssetKey(["raw", "flights"])]),
        ("2013-03-04", RAW),
    ]
    assert tick_new_data(instance, landing, cursor)[0] == []


# --- drift -----------------------------------------------------------------------------------

def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(7)
    reference = pd.Series(rng.normal(50, 10, 20_000))
    assert psi_numeric(reference, pd.Series(rng.normal(50, 10, 3_000))) < 0.02
    assert psi_numeric(reference, pd.Series(rng.normal(65, 10, 3_000))) > 0.5
    levels = pd.Series(rng.choice(["EWR", "JFK", "LGA"], 10_000, p=[0.4, 0.3, 0.3]))
    assert psi_categorical(levels, levels.sample(2_000, random_state=1)) < 0.02
    assert psi_categorical(levels, pd.Series(["EWR"] * 1_800 + ["JFK"] * 200)) > 0.5


def _drift_metadata(platform):
    event = platform.instance.get_latest_materialization_event(DRIFT_KEY)
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_drift_sensor_fires_on_a_shift_once_and_stays_quiet_without_one(built_platform, tmp_path):
    # The champion learned from Jan 1 .. Feb 2, and the drift window is those same days: the
    # unshifted case. (A shorter window inside January would differ on route_flights_28d, which
    # grows from zero while the data set's first 28 days fill the route history.)
    policy = ModelPolicy(auc_floor=0.5, drift_window_days=33)
    platform = built_platform.clone(tmp_path, policy)
    platform.materialize(date(2013, 1, 1), date(2013, 2, 12))  # recorded in this instance
    assert platform.train(FIRST_CUTOFF).success and platform.promote().success
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
    assert request.partition_key == FIRST_CUTOFF  # newest cutoff with a week of labels by Feb 12
    assert request.tags["retrain/reason"].startswith("drift: PSI > 0.25 on temp")
    assert float(request.tags["drift/max_psi"]) > 0.25

    # The same drift again, before a new model exists: no second request.
    assert platform.execute([DRIFT_KEY], partition_range=window).success
    again, cursor = tick_drift(platform.instance, cursor)
    assert isinstance(again, SkipReason) and "already requested" in again.skip_message


# --- automation ------------------------------------------------------------------------------

def test_replay_of_sixty_days_ingests_detects_drift_retrains_and_decides(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path, ModelPolicy(auc_floor=0.5))
    platform.materialize(date(2013, 1, 1), date(2013, 2, 12))
    assert platform.train(FIRST_CUTOFF).success and platform.promote().success
    first_champion = registry_champion(platform)
    landing, retrain_job = platform.settings.landing_dir, platform.defs.resolve_job_def("retrain")

    # The first tick starts from what the warehouse holds: Jan 1 .. Feb 12 is not re-requested.
    requests, new_data_cursor = tick_new_data(platform.instance, landing, None,
                                               platform.settings.warehouse_path)
    assert requests == []
    automation_cursor, drift_cursor, log, retrains = None, None, [], []
    start, days, batch = date(2013, 2, 13), 60, 10  # winter into spring
    for offset in range(0, days, batch):
        first = start + timedelta(days=offset)
        land_days(landing, first, first + timedelta(days=batch - 1))
        requests, new_data_cursor = tick_new_data(platform.instance, landing, new_data_cursor)
        assert len(requests) == batch
        for request in requests:
            assert platform.execute(list(request.asset_selection),
                                    partition_key=request.partition_key).success
        for _ in range(4):  # staging+features, then predictions, then the drift report
            automation_cursor, ran = run_automation_tick(platform, automation_cursor, log)
            if not ran:
                break
        request, drift_cursor = tick_drift(platform.instance, drift_cursor)
        if isinstance(request, RunRequest):
            retrains.append(request)
            retrain_job.execute_in_process(
                instance=platform.instance, partition_key=request.partition_key,
                tags=request.tags, raise_on_error=False,
            )

    last_day = start + timedelta(days=days - 1)
    assert platform.query("select count(distinct partition_date), max(partition_date)"
                          " from raw.flights") == [((last_day - date(2013, 1, 1)).days + 1,
                                                    last_day)]
    assert platform.query("select max(flight_date) from ml.predictions") == [(last_day,)]
    assert all(run.success for run in log), log
    assert retrains, "no drift detected over a season change"
    with platform.warehouse.connect(read_only=True) as con:
        models = con.execute("select count(*) from ml.model_registry").fetchone()[0]
        decisions = con.execute(
            "select action, reason from ml.champion_decisions order by decided_at").fetchall()
    assert models > 1  # the retrain trained a new model
    assert len(decisions) >= 2 and decisions[0][0] == "promote"  # the first champion, then more
    assert all(reason for _, reason in decisions)
    assert registry_champion(platform) is not None and first_champion is not None


def registry_champion(platform):
    with platform.warehouse.connect(read_only=True) as con:
        champion = registry.current_champion(con)
    return champion.version if champion else None


def _dbt_project_copy(source: Path, target: Path, edit=None) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    if edit:
        edit(target)
    subprocess.run([str(Path(sys.executable).parent / "dbt"), "parse", "--quiet"], cwd=target,
                   check=True)
    return target


def _add_a_feature(project: Path) -> None:
    sql = project / "models" / "features" / "flight_features.sql"
    sql.write_text(sql.read_text().replace(
        "flights.distance,", "flights.distance,\n    flights.distance / 1000.0 as distance_kkm,"
    ))


def test_editing_a_dbt_model_makes_it_stale_and_its_rebuild_flows_downstream(
    built_platform, tmp_path, definitions_module, cli
):
    # An analyst's copy of the project. (The edit goes into a second copy: dagster-dbt caches a
    # manifest by its path within a process; `dagster dev` reloads in a new process.)
    original = _dbt_project_copy(REPO_ROOT / "dbt_project", tmp_path / "dbt_v1")
    shutil.copytree(built_platform.settings.data_dir, tmp_path / "data")
    platform = Platform(tmp_path, definitions_module, cli, dbt_project_dir=original)
    assert all(platform.materialize(date(2013, 1, 1), date(2013, 2, 12)).values())
    assert platform.train("2013-02-03").success and platform.promote().success
    day = "2013-02-05"
    assert platform.execute([PREDICTIONS], partition_key=day).success

    def status(defs, key):
        resolver = CachingStaleStatusResolver(platform.instance, defs.resolve_asset_graph(),
                                              LoadingContextForTest(platform.instance))
        return resolver.get_status(key, day), resolver.get_stale_root_causes(key, day)

    assert status(platform.defs, FEATURES)[0] == StaleStatus.FRESH
    assert status(platform.defs, PREDICTIONS)[0] == StaleStatus.FRESH

    edited_project = _dbt_project_copy(original, tmp_path / "dbt_v2", edit=_add_a_feature)
    edited = Platform(tmp_path, definitions_module, cli, dbt_project_dir=edited_project)
    features_status, features_causes = status(edited.defs, FEATURES)
    assert features_status == StaleStatus.STALE
    assert [cause.category.name for cause in features_causes] == ["CODE"]
    # The SQL of staging did not change: it stays fresh.
    assert status(edited.defs, AssetKey(["staging", "stg_flights"]))[0] == StaleStatus.FRESH

    # Rebuilding the stale day with the new SQL, and the automation rescores that day.
    cursor = evaluate_automation_conditions(edited.defs, edited.instance).cursor
    dbt_keys = [FEATURES, AssetKey(["staging", "stg_flights"]), AssetKey(["staging", "stg_weather"])]
    assert edited.execute(dbt_keys, partition_key=day).success
    assert status(edited.defs, FEATURES)[0] == StaleStatus.FRESH
    assert "distance_kkm" in [c for (c,) in edited.query(
        "select column_name from information_schema.columns where table_name = 'flight_features'")]
    after = evaluate_automation_conditions(edited.defs, edited.instance, cursor=cursor)
    assert after.get_requested_partitions(PREDICTIONS) == {day}


def test_a_failed_run_writes_an_alert(new_platform, tmp_path):
    platform = new_platform()
    platform.land(date(2013, 3, 1), date(2013, 3, 1))
    landing_path(platform.settings.landing_dir, "flights", date(2013, 3, 1)).write_text("")
    failed = platform.execute([AssetKey(["raw", "flights"])], partition_key="2013-03-01")
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
