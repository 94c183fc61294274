"""An operator's decisions and the registry's stages, on a real DuckDB registry in memory
(core/gate/review.py, core/gate/registry.py)."""

from datetime import date, timedelta

import duckdb
import pytest

from core.gate import registry
from core.gate.review import ReviewError, review

MODEL = "not_on_time"


def register(con, version, cutoff, passed=True):
    cutoff = date.fromisoformat(cutoff)
    registry.register_candidate(
        con, version=version, model_name=MODEL, cutoff=cutoff, artifact_dir=f"/m/{version}",
        windows=(date(2013, 1, 1), cutoff - timedelta(days=1), cutoff,
                 cutoff + timedelta(days=13)),
        training_set_hash=version, lineage={})
    for check in ("onnx_matches_sklearn", "quality_floor"):
        registry.record_check(con, version, check, passed, 0.0)


@pytest.fixture
def con():
    connection = duckdb.connect(":memory:")
    registry.ensure_tables(connection)
    register(connection, "v1", "2013-02-03")
    register(connection, "v2", "2013-02-10")
    register(connection, "broken", "2013-01-27", passed=False)
    registry.make_champion(connection, "v1")
    return connection


def stages(con):
    return dict(con.execute("select version, stage from ml.model_registry").fetchall())


def test_rollback_goes_only_to_a_version_that_passed_its_checks_and_lasts(con):
    review(con, MODEL, "promote", "v2", "ana", "the gate approved it")
    with pytest.raises(ReviewError, match="did not pass its blocking checks"):
        review(con, MODEL, "rollback", "broken", "ana", "try")
    outcome = review(con, MODEL, "rollback", "v1", "ana", "AUC fell after the schedule change")
    assert (outcome.champion_before, outcome.champion_after) == ("v2", "v1")
    assert stages(con)["v2"] == "rolled_back"
    # The version rolled back from is no challenger: the gate and the shadow pass it over.
    assert registry.challenger(con, MODEL) is None
    assert registry.shadowing_model(con, MODEL) is None
    register(con, "failed", "2013-02-17", passed=False)  # the gate will reject it; meanwhile
    assert registry.challenger(con, MODEL).version == "failed"
    assert registry.shadowing_model(con, MODEL) is None  # it shadows nothing
    assert con.execute("select action, actor, reason, champion_before, champion_after"
                       " from ml.champion_decisions order by decided_at desc limit 1"
                       ).fetchone() == ("rollback", "ana", "AUC fell after the schedule change",
                                        "v2", "v1")


def test_a_rejected_version_no_longer_shadows_and_pause_is_recorded(con):
    assert registry.challenger(con, MODEL).version == "v2"
    review(con, MODEL, "reject", "v2", "bo", "trained on the strike week")
    assert stages(con)["v2"] == "rejected" and registry.shadowing_model(con, MODEL) is None
    with pytest.raises(ReviewError, match="v2 is rejected: only a version waiting for the gate"):
        review(con, MODEL, "reject", "v2", "bo", "again")

    assert not registry.promotion_paused(con, MODEL)
    review(con, MODEL, "pause", None, "bo", "holiday freeze")
    assert registry.promotion_paused(con, MODEL)
    review(con, MODEL, "resume", None, "bo", "after the freeze")
    assert not registry.promotion_paused(con, MODEL)


def test_every_request_says_who_and_why_and_names_a_version_of_the_model(con):
    for action, version, who, why, message in [
        ("promote", "v2", "", "x", "say who you are and why"),
        ("promote", "v9", "ana", "x", "v9 is not a registered version of not_on_time"),
        ("promote", "v1", "ana", "x", "already the champion"),
        ("promote", None, "ana", "x", "needs the version"),
        ("retire", "v2", "ana", "x", "not an action"),
    ]:
        with pytest.raises(ReviewError, match=message):
            review(con, MODEL, action, version, who, why)
    assert registry.current_champion(con, MODEL).version == "v1"


def test_a_registry_written_before_the_new_stages_is_migrated_in_place():
    connection = duckdb.connect(":memory:")
    connection.execute("create schema ml")
    connection.execute(registry._DDL[1].replace("{stages}", "'candidate', 'champion', 'archived'"))
    connection.execute(registry._DDL[2].replace("model_name varchar,", ""))
    register(connection, "v1", "2013-02-03")  # ensure_tables migrates first
    registry.set_stage(connection, "v1", "rolled_back")  # the old constraint would refuse it
    assert stages(connection) == {"v1": "rolled_back"}
    registry.record_decision(connection, model_name=MODEL, action="pause", challenger=None,
                             champion_before=None, champion_after=None, reason="r", actor="a")
    assert registry.promotion_paused(connection, MODEL)


def test_a_held_version_shadows_and_waits_for_an_operator(con):
    registry.set_stage(con, "v2", "held")  # the gate found it better than is plausible
    assert registry.challenger(con, MODEL) is None  # the gate does not judge it again
    assert registry.shadowing_model(con, MODEL).version == "v2"  # but it keeps shadowing
    review(con, MODEL, "reject", "v2", "bo", "it read the day's own departure delay")
    assert stages(con)["v2"] == "rejected" and registry.shadowing_model(con, MODEL) is None


def test_a_version_skewed_at_serving_no_longer_shadows_and_cannot_be_promoted(con):
    assert registry.shadowing_model(con, MODEL).version == "v2"
    registry.record_check(con, "v2", registry.SERVING_SKEW, False,
                          "temp_last null for 100% of the served rows")
    assert registry.shadowing_model(con, MODEL) is None
    with pytest.raises(ReviewError, match="serving_skew"):
        review(con, MODEL, "promote", "v2", "ana", "looks fine to me")


def test_the_gates_looks_at_a_challenger_are_read_back_in_order(con):
    for days in (14, 7, 14, 21):  # a look repeated on the same evidence counts once
        registry.record_decision(con, model_name=MODEL, action="wait", challenger="v2",
                                 champion_before="v1", champion_after="v1", reason="r",
                                 actor="gate", details={"look": {"days": days}})
    registry.record_decision(con, model_name=MODEL, action="wait", challenger="v2",
                             champion_before="v1", champion_after="v1", reason="too few rows",
                             actor="gate", details={})
    assert registry.gate_looks(con, MODEL, "v2") == (7, 14, 21)
    assert registry.gate_looks(con, MODEL, "v1") == ()
