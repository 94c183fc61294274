"""When the platform retrains (core/monitor/retrain_policy.py): only on new evidence, called
directly (no Dagster, no warehouse)."""

from datetime import date, timedelta

from core.monitor.drift import Trigger
from core.monitor.retrain_policy import LastTraining, decide_retrain

D = date.fromisoformat

LAST = LastTraining(cutoff=D("2013-03-17"), recipe="r1", labeled_through=D("2013-03-31"))


def retrain(last_labeled, recipe="r1", last=LAST, measured=()):
    newest = D("2013-03-17") + timedelta(weeks=(D(last_labeled) - D("2013-03-23")).days // 7)
    return decide_retrain(last, D(last_labeled), newest, recipe, 7, measured)


def test_a_retrain_needs_a_week_of_new_labels():
    for day in range(1, 7):  # Apr 1 .. Apr 6: not yet
        decision = retrain(f"2013-04-0{day}")
        assert not decision.retrain
        assert f"{day} labeled day(s) matured since the last training" in decision.reason
    week = retrain("2013-04-07")
    assert week.retrain and week.cutoff == D("2013-03-31")
    assert "new labels: 7 labeled day(s)" in week.reason
    # Asked again, the same request: its run key names the cutoff and the recipe.
    assert retrain("2013-04-07").run_key("r1") == week.run_key("r1") == "2013-03-31:r1"


def test_a_new_recipe_retrains_and_the_same_one_does_not():
    changed = retrain("2013-04-02", recipe="r2")
    assert changed.retrain and "recipe r1 -> r2" in changed.reason
    assert not retrain("2013-04-02", recipe="r1").retrain


def test_feature_drift_alone_only_warns_and_decay_retrains():
    drift = Trigger("feature drift", True, "warn", "PSI above 0.25 on temp_last")
    warned = retrain("2013-04-03", measured=(drift,))
    assert not warned.retrain and warned.reason.startswith("warning only (PSI above 0.25")
    asked = Trigger("feature drift", True, "retrain", "PSI above 0.25 on temp_last")
    assert retrain("2013-04-03", measured=(asked,)).retrain
    decay = Trigger("decay", True, "retrain", "realized auc surely worse")
    decayed = retrain("2013-04-03", measured=(decay,))
    assert decayed.retrain and decayed.cutoff == D("2013-03-24")


def test_a_trigger_that_would_train_the_same_model_launches_nothing():
    decay = Trigger("decay", True, "retrain", "x")
    same = decide_retrain(LAST, D("2013-03-31"), D("2013-03-17"), "r1", 7, (decay,))
    assert not same.retrain and "would give the same model" in same.reason
    first = decide_retrain(None, D("2013-02-09"), D("2013-02-03"), "r1", 7)
    assert first.retrain and first.cutoff == D("2013-02-03")
    too_early = decide_retrain(None, D("2013-02-05"), None, "r1", 7)
    assert not too_early.retrain and "no cutoff leaves a week" in too_early.reason


def test_new_labels_wait_while_the_last_challenger_is_judged_but_decay_does_not():
    waiting = "b6f26773a7ac: the interval includes the margin"
    held = decide_retrain(LAST, D("2013-04-07"), D("2013-03-31"), "r1", 7, (), waiting)
    assert not held.retrain and "still being judged (b6f26773a7ac" in held.reason
    decay = Trigger("decay", True, "retrain", "realized auc surely worse")
    assert decide_retrain(LAST, D("2013-04-07"), D("2013-03-31"), "r1", 7, (decay,),
                          waiting).retrain
    assert decide_retrain(LAST, D("2013-04-07"), D("2013-03-31"), "r2", 7, (), waiting).retrain


