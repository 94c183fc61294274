"""The gate, shadow, operator and rollback through Dagster, on Jan 1 .. Feb 12.

The champion is a deliberately weak model (one tree of two leaves) trained at cutoff Feb 3;
challengers trained at the same cutoff are judged on Feb 3 .. 12, ten labeled days neither
trained on (about 9,000 flights): enough rows and days for the gate to decide.
"""

import json
from datetime import date
from types import SimpleNamespace

import pytest

from assets import keys
from core.gate import registry
from core.ingest.upstream import land_days
from tests.conftest import CLASSIFIER
from tools import ticks
from tools.sandbox import SMALL_WINDOW

MODEL = keys.ModelKeys(CLASSIFIER)
CUTOFF = "2013-02-03"
# Ten labeled days after the cutoff: the gate decides at ten days, as it would at 28.
SHORT_SHADOW = {CLASSIFIER: {**SMALL_WINDOW[CLASSIFIER],
                             "gate": {**SMALL_WINDOW[CLASSIFIER]["gate"], "max_days": 10}}}
WEAK = {"max_iter": 1, "max_leaf_nodes": 2}
WORSE = {"max_iter": 2, "max_leaf_nodes": 2, "learning_rate": 0.01}
NEXT_DAY = date(2013, 2, 13)  # scheduled, not flown: served ahead
NEXT_DAY_KEYS = [keys.raw_key("schedule"), keys.STAGING["stg_schedule"], keys.FEATURES]


def decisions(platform):
    return platform.query_frame("select * from ml.champion_decisions order by decided_at")


def stage_of(platform, version):
    return platform.query("select stage from ml.model_registry where version = ?", [version])[0][0]


def champion_version(platform):
    with platform.warehouse.connect(read_only=True) as con:
        return registry.current_champion(con, CLASSIFIER).version


def newest_version(platform):
    with platform.warehouse.connect(read_only=True) as con:
        return registry.newest_model(con, CLASSIFIER).version


def serve_new_champion(platform):
    """One tick of the serving sensor, its runs executed: the open day's serving version."""
    requests, _ = ticks.tick_sensor(
        platform.defs, f"serve_new_champion_{CLASSIFIER}", platform.instance, None)
    assert isinstance(requests, list), requests
    assert [r.partition_key for r in requests] == [str(NEXT_DAY)]
    assert ticks.execute_requests(platform, requests)
    return platform.query("select distinct model_version from ml.not_on_time_predictions"
                          " where flight_date = ?", [NEXT_DAY])


def with_weak_champion(built_platform, root, overrides=SHORT_SHADOW):
    platform = built_platform.clone(root, overrides)
    assert platform.train(CUTOFF, models=[MODEL], **WEAK).success
    assert platform.promote([MODEL]).success
    land_days(platform.settings.landing_dir, NEXT_DAY, NEXT_DAY, datasets=("schedule",))
    assert platform.execute(NEXT_DAY_KEYS, partition_key=str(NEXT_DAY)).success
    assert platform.execute([MODEL.predictions], partition_key=str(NEXT_DAY)).success
    return platform


@pytest.fixture(scope="module")
def auto(built_platform, tmp_path_factory):
    """Auto mode: a better challenger is trained, shadows the next day, and is promoted; then
    a worse one is trained and rejected; then the champion is rolled back to the weak model
    and the gate runs again."""
    platform = with_weak_champion(built_platform, tmp_path_factory.mktemp("auto"))
    happened = SimpleNamespace(platform=platform, weak=champion_version(platform))
    assert platform.train(CUTOFF, models=[MODEL]).success  # the spec's model: better
    happened.better = newest_version(platform)
    assert platform.execute([MODEL.shadow_predictions], partition_key=str(NEXT_DAY)).success
    happened.shadow = platform.query(
        f"select model_version, count(*) from {keys.table_of(MODEL.shadow_predictions)}"
        " group by 1")
    assert platform.promote([MODEL]).success
    happened.after_better = decisions(platform).iloc[-1]
    happened.champion_after_better = champion_version(platform)
    happened.served_after_better = serve_new_champion(platform)

    assert platform.train(CUTOFF, models=[MODEL], **WORSE).success
    happened.worse = newest_version(platform)
    assert platform.promote([MODEL]).success
    happened.after_worse = decisions(platform).iloc[-1]
    happened.metadata = platform.instance.get_latest_materialization_event(
        MODEL.champion).asset_materialization.metadata

    happened.rollback = platform.runner.review(
        platform.defs, platform.instance, CLASSIFIER, "rollback", happened.weak, "ana",
        "flagged too many flights on Feb 13", log=lambda _: None)
    assert platform.promote([MODEL]).success  # the gate runs again
    happened.after_rollback = champion_version(platform)
    return happened


def test_a_better_challenger_shadows_then_is_promoted_with_its_interval(auto):
    assert auto.shadow == [(auto.better, auto.platform.query(
        "select count(*) from features.flight_features where flight_date = ?",
        [NEXT_DAY])[0][0])]  # never served: the served table still names the weak model
    decision = auto.after_better
    assert (decision["action"], decision["challenger"]) == ("promote", auto.better)
    assert auto.champion_after_better == auto.better
    details = json.loads(decision["details"])
    assert details["interval"][0] > 0.01 and details["look"]["days"] == 10
    assert details["evidence"]["rows"] > 5000
    assert details["evidence"]["days"] == ["2013-02-03", "2013-02-12"]
    assert "better beyond the margin" in decision["reason"]
    # The day not flown yet, served by the weak model, is served again by the new champion.
    assert auto.served_after_better == [(auto.better,)]


def test_a_worse_challenger_is_rejected_with_its_interval_recorded(auto):
    decision = auto.after_worse
    assert (decision["action"], decision["challenger"]) == ("reject", auto.worse)
    assert "not better by the margin" in decision["reason"] and "rows, 10 days" in decision["reason"]
    assert json.loads(decision["details"])["interval"][1] < 0.01
    assert stage_of(auto.platform, auto.worse) == "rejected"
    assert auto.metadata["decision"].value == "reject"
    assert auto.metadata["evidence_days"].value == 10
    assert "data:image/png;base64," in auto.metadata["auc_by_day"].value


def test_a_rollback_lasts_through_the_next_gate_run_and_reserves_the_open_day(auto):
    assert auto.rollback.success
    assert auto.after_rollback == auto.weak  # the gate did not re-promote the better model
    platform = auto.platform
    assert stage_of(platform, auto.better) == "rolled_back"
    # The review's row is the last: the gate found no challenger to decide on.
    last = decisions(platform).iloc[-1]
    assert (last["action"], last["actor"], last["champion_after"]) == ("rollback", "ana", auto.weak)
    gate_run = platform.instance.get_latest_materialization_event(MODEL.champion)
    assert gate_run.asset_materialization.metadata["decision"].value == "keep"
    assert "no challenger" in gate_run.asset_materialization.metadata["reason"].value
    # The day served ahead by the rolled-back model is served again by the restored one.
    assert serve_new_champion(platform) == [(auto.weak,)]
    again, _ = ticks.tick_sensor(platform.defs, f"serve_new_champion_{CLASSIFIER}",
                                           platform.instance, None)
    assert "served by the champion" in again.skip_message


def test_manual_mode_waits_for_an_operators_approval(built_platform, tmp_path):
    manual = {CLASSIFIER: {**SHORT_SHADOW[CLASSIFIER],
                           "gate": {**SHORT_SHADOW[CLASSIFIER]["gate"], "promotion": "manual"}}}
    platform = built_platform.clone(tmp_path, SHORT_SHADOW)
    assert platform.train(CUTOFF, models=[MODEL], **WEAK).success
    assert platform.promote([MODEL]).success  # auto mode: the first champion
    weak = champion_version(platform)
    platform = type(platform)(platform.root, platform._definitions_module, platform.runner,
                              manual)
    assert platform.train(CUTOFF, models=[MODEL]).success
    better = newest_version(platform)
    assert platform.promote([MODEL]).success
    assert champion_version(platform) == weak
    assert stage_of(platform, better) == "approved"
    assert "waiting for an operator's approval" in decisions(platform).iloc[-1]["reason"]
    assert platform.promote([MODEL]).success  # the gate does not judge it again
    assert champion_version(platform) == weak

    refused = platform.runner.review(platform.defs, platform.instance, CLASSIFIER, "promote",
                                     better, "", "no name", log=lambda _: None)
    assert not refused.success
    assert platform.runner.review(platform.defs, platform.instance, CLASSIFIER, "promote",
                                  better, "ana", "reviewed the interval", log=lambda _: None).success
    assert champion_version(platform) == better
    event = platform.instance.get_latest_materialization_event(MODEL.champion)
    assert event.asset_materialization.metadata["reason"].value == "ana: reviewed the interval"
