"""The loop runs itself for sixty days: new data, automation, drift, retraining and promotion,
each sensor evaluated in-process against a real instance and its runs executed as the daemon
would launch them (platform/runner.py), with no wall-clock waits. The classifier's spec only:
the loop is the same for every spec."""

import shutil
from datetime import date, timedelta

from dagster import RunRequest

from core import registry
from core.simulator import deliver_days
from resources.settings import REPO_ROOT
from tests.conftest import CLASSIFIER, SMALL_WINDOW, load_platform_module

runner = load_platform_module("runner")


def test_replay_of_sixty_days_ingests_detects_drift_retrains_and_decides(built_platform, tmp_path):
    specs = tmp_path / "model_specs"
    specs.mkdir()
    shutil.copy(REPO_ROOT / "model_specs" / f"{CLASSIFIER}.yaml", specs)
    platform = built_platform.clone(tmp_path / "platform", SMALL_WINDOW, model_specs_dir=specs)
    assert platform.train("2013-02-03").success and platform.promote().success
    with platform.warehouse.connect(read_only=True) as con:
        first_champion = registry.current_champion(con, CLASSIFIER).version
    landing = platform.settings.landing_dir
    retrain_job = platform.defs.resolve_job_def(f"retrain_{CLASSIFIER}")

    _, new_data_cursor = runner.tick_new_data(platform.instance, landing, None,
                                       platform.settings.warehouse_path)
    automation_cursor, drift_cursor, log, retrains = None, None, [], []
    start, days, batch = date(2013, 2, 13), 60, 15  # winter into spring
    for offset in range(0, days, batch):
        first = start + timedelta(days=offset)
        deliver_days(landing, first, first + timedelta(days=batch - 1))
        requests, new_data_cursor = runner.tick_new_data(platform.instance, landing, new_data_cursor)
        assert len(requests) == batch + 1  # one per day, and the next day's schedule
        assert runner.execute_requests(platform, requests)
        for _ in range(4):  # staging+features, then predictions, then the drift report
            automation_cursor, ran = runner.run_automation_tick(platform, automation_cursor, log)
            if not ran:
                break
        request, drift_cursor = runner.tick_sensor(platform.defs, f"drift_{CLASSIFIER}",
                                                   platform.instance, drift_cursor)
        if isinstance(request, RunRequest):
            retrains.append(request)
            assert retrain_job.execute_in_process(
                instance=platform.instance, partition_key=request.partition_key,
                tags=request.tags, raise_on_error=False,
            ).success

    last_day = start + timedelta(days=days - 1)
    assert platform.query("select count(distinct partition_date), max(partition_date)"
                          " from raw.outcomes") == [((last_day - date(2013, 1, 1)).days + 1,
                                                     last_day)]
    # The day after the last one that happened is served ahead, from its schedule alone.
    assert platform.query("select max(flight_date) from ml.not_on_time_predictions") == [
        (last_day + timedelta(days=1),)]
    assert all(run.success for run in log), log
    assert retrains, "no drift detected over a season change"
    with platform.warehouse.connect(read_only=True) as con:
        models = con.execute("select count(*) from ml.model_registry").fetchone()[0]
        decisions = con.execute(
            "select action, challenger from ml.champion_decisions order by decided_at").fetchall()
    assert models > 1  # the retrains trained new models
    # The first champion was promoted, then each retrain's challenger was decided on.
    assert decisions[0] == ("promote", first_champion)
    assert len(decisions) == 1 + len(retrains)
    assert all(challenger != first_champion for _, challenger in decisions[1:])
