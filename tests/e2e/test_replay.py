"""The loop runs itself for sixty days, winter into spring: new data, automation, the retrain
sensor, retraining, shadow and the gate, each sensor evaluated in-process against a real
instance and its runs executed as the daemon would launch them (platform/runner.py), with no
wall-clock waits. Days land in batches of 4 to 12 (a week of new labels is reached after some
batches and not after others). The classifier's spec only: the loop is the same for every
spec."""

import json
import shutil
from datetime import date, timedelta

from dagster import RunRequest

from core.gate import registry
from core.ingest.upstream import deliver_days
from resources.settings import REPO_ROOT
from tests.conftest import CLASSIFIER
from tools import ticks
from tools.sandbox import SMALL_WINDOW

START, BATCHES = date(2013, 2, 13), [4, 12, 12, 12, 12, 8]  # 60 days


def test_sixty_days_retrain_only_on_a_week_of_new_labels_and_the_gate_explains_each_decision(
        built_platform, tmp_path):
    specs = tmp_path / "model_specs"
    specs.mkdir()
    shutil.copy(REPO_ROOT / "model_specs" / f"{CLASSIFIER}.yaml", specs)
    platform = built_platform.clone(tmp_path / "platform", SMALL_WINDOW, model_specs_dir=specs)
    assert platform.train("2013-02-03").success and platform.promote().success
    with platform.warehouse.connect(read_only=True) as con:
        first_champion = registry.current_champion(con, CLASSIFIER).version
    landing = platform.settings.landing_dir
    retrain_job = platform.defs.resolve_job_def(f"retrain_{CLASSIFIER}")

    # First ticks, as a running daemon has had them: its cursors start from what is there.
    _, new_data_cursor = ticks.tick_new_data(platform.defs, platform.instance, landing, None,
                                              platform.settings.warehouse_path)
    automation_cursor, log, retrains, skips = None, [], [], []
    automation_cursor, _ = ticks.run_automation_tick(platform, automation_cursor, log)
    last = START - timedelta(days=1)
    for batch in BATCHES:
        first, last = last + timedelta(days=1), last + timedelta(days=batch)
        deliver_days(landing, first, last)
        requests, new_data_cursor = ticks.tick_new_data(platform.defs, platform.instance, landing,
                                                         new_data_cursor)
        assert len(requests) == batch + 1  # one per day, and the next day's schedule
        assert ticks.execute_requests(platform, requests)
        for _ in range(6):  # features, then predictions and shadow, monitoring, the gate
            automation_cursor, ran = ticks.run_automation_tick(platform, automation_cursor, log)
            if not ran:
                break
        request, _ = ticks.tick_sensor(platform.defs, f"retrain_on_evidence_{CLASSIFIER}",
                                        platform.instance, None)
        if isinstance(request, RunRequest):
            retrains.append((last, request))
            assert retrain_job.execute_in_process(
                instance=platform.instance, partition_key=request.partition_key,
                tags=request.tags, raise_on_error=False).success
        else:
            skips.append((last, request.skip_message))

    last_day = START + timedelta(days=sum(BATCHES) - 1)
    assert platform.query("select count(distinct partition_date), max(partition_date)"
                          " from raw.outcomes") == [((last_day - date(2013, 1, 1)).days + 1,
                                                     last_day)]
    # The day after the last one that happened is served ahead, from its schedule alone.
    assert platform.query("select max(flight_date) from ml.not_on_time_predictions") == [
        (last_day + timedelta(days=1),)]
    assert all(run.success for run in log), [run for run in log if not run.success]

    # Retrains: on a week of new labels (or decay of the serving version), never on feature
    # drift alone, at most one per week of labels, each at a newer cutoff.
    labeled_days = (last_day - date(2013, 2, 12)).days
    assert 1 <= len(retrains) <= labeled_days // 7
    reasons = [request.tags["retrain/reason"] for _, request in retrains]
    assert all(reason.startswith(("new labels: ", "decay: ")) and "feature drift" not in reason
               for reason in reasons), reasons
    cutoffs = [request.partition_key for _, request in retrains]
    assert cutoffs == sorted(set(cutoffs))
    assert all("labeled day(s) matured since the last training" in message
               or "would give the same model" in message for _, message in skips), skips
    assert any("no new evidence" in message for _, message in skips)

    with platform.warehouse.connect(read_only=True) as con:
        decisions = con.execute(
            "select action, challenger, reason, details from ml.champion_decisions"
            " order by decided_at").df()
        trained = con.execute("select count(*) from ml.model_registry").fetchone()[0]
    assert trained == 1 + len(retrains)
    assert decisions["action"].iloc[0] == "promote"
    assert decisions["challenger"].iloc[0] == first_champion
    # Every retrained challenger was judged, as often as its evidence grew, and every
    # judgement states its evidence: rows, days, the days won; every look its interval.
    judged = decisions.iloc[1:]
    assert set(judged["challenger"]) == {
        version for version in platform.query_frame(
            "select version from ml.model_registry")["version"] if version != first_champion}
    assert set(judged["action"]) <= {"promote", "wait", "reject"}
    for decision in judged.itertuples():
        if decision.action == "reject" and "did not pass" in decision.reason:
            continue  # a blocking check failed: nothing to measure
        details = json.loads(decision.details)
        evidence = details["evidence"]
        assert evidence["rows"] > 0 and evidence["day_count"] >= 1
        assert f"{evidence['rows']:,} rows, {evidence['day_count']} days" in decision.reason
        assert f"better on {evidence['wins']} of {evidence['day_count']} days" in decision.reason
        if decision.action != "wait":  # a decision is taken at a look
            low, high = details["interval"]
            assert low <= evidence["gain"] <= high and details["look"]["boundary"] > 0
    # A challenger in shadow scored the days after it was trained, never served.
    shadowed = platform.query("select count(*) from ml.not_on_time_shadow_predictions")[0][0]
    served_by_challengers = platform.query(
        "select count(*) from ml.not_on_time_predictions p join ml.model_registry r"
        " on p.model_version = r.version where r.stage not in ('champion', 'archived')")[0][0]
    assert shadowed > 0 and served_by_challengers == 0
