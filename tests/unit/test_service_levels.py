"""core/monitor/service_levels.py and core/monitor/indicators.py: budgets, multi-window burn
rates, one alert per incident, and what each indicator counts as good."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.monitor import indicators
from core.monitor.service_levels import (
    BurnRule,
    Event,
    Objective,
    ObjectivesError,
    budget,
    burn,
    firing,
    load_objectives,
    step_incidents,
)

REPO = Path(__file__).resolve().parents[2]
NOON = datetime(2026, 12, 5, 12, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
FAST = BurnRule("fast", "page", timedelta(hours=1), timedelta(minutes=5), 14.4, 3)
SLOW = BurnRule("slow", "page", timedelta(hours=6), timedelta(minutes=30), 6.0, 3)


def objective(target=0.99, rules=(FAST, SLOW)) -> Objective:
    return Objective("M1", "run_success", "", target, timedelta(days=7), "m1-run-success",
                     "on-call", rules)


def runs(*outcomes: tuple[int, bool]) -> list[Event]:
    """Events ``minutes`` before noon, good or bad."""
    return [Event(NOON - minutes * MIN, good, f"run {i}") for i, (minutes, good) in
            enumerate(outcomes)]


def test_burn_rate_is_the_bad_share_over_the_allowed_bad_share():
    events = runs((10, False), (20, True), (30, True), (40, True))
    one_hour = burn(events, NOON, timedelta(hours=1), 0.01)
    assert (one_hour.bad, one_hour.total) == (1, 4)
    assert one_hour.rate == pytest.approx(25.0)
    # outside the window, nothing counts; an empty window burns nothing
    assert burn(events, NOON, timedelta(minutes=5), 0.01).rate == 0.0


def test_budget_left_falls_with_the_bad_events_and_goes_negative_when_overspent():
    good_week = [Event(NOON - i * 30 * MIN, True, str(i)) for i in range(200)]  # 100 hours
    assert budget(objective(), good_week, NOON).remaining == 1.0
    one_bad = good_week[:-1] + [Event(NOON - 3 * MIN, False, "bad")]
    assert budget(objective(), one_bad, NOON).remaining == pytest.approx(0.5)  # 1 of 200 at 1 %
    three_bad = one_bad[:-3] + [Event(NOON - i * MIN, False, f"b{i}") for i in (4, 5, 6)]
    assert budget(objective(), three_bad, NOON).remaining < 0
    assert budget(objective(), [], NOON).good_share is None


def test_a_fast_burn_pages_only_while_both_windows_burn():
    events = runs((2, False), (3, True), (20, True), (40, True))
    fired = firing(objective(), events, NOON)
    assert [f.rule.name for f in fired] == ["fast", "slow"]
    assert fired[0].behind[0].subject == "run 0"
    # ten minutes later the failure has left the 5-minute window, and a success came: no page
    later = events + [Event(NOON + 8 * MIN, True, "run 4")]
    assert [f.rule.name for f in firing(objective(), later, NOON + 10 * MIN)] == ["slow"]


def test_a_blip_among_many_good_runs_does_not_page():
    events = runs((1, False), *((m, True) for m in range(2, 60)))  # 1 of 59 in the hour
    assert firing(objective(), events, NOON) == []


def test_too_few_events_are_no_evidence():
    assert firing(objective(), runs((1, False), (2, True)), NOON) == []  # 2 < min_events 3


def test_one_alert_per_incident_and_a_resolve_when_the_burn_stops():
    o = objective(rules=(FAST,))
    burning = firing(o, runs((1, False), (2, False), (30, True)), NOON)
    opened, notices = step_incidents({}, burning, NOON)
    assert [n.kind for n in notices] == ["alert"] and set(opened) == {"M1/fast"}
    text = notices[0].text
    for part in ("M1 run_success", "fast burn", "2 bad of 3", "Owner: on-call",
                 "docs/oncall.md#m1-run-success", "run 0"):
        assert part in text
    still, again = step_incidents(opened, burning, NOON + MIN)
    assert still == opened and again == []  # the same burn says nothing more
    closed, resolved = step_incidents(still, [], NOON + 10 * MIN)
    assert closed == {} and [n.kind for n in resolved] == ["resolve"]


def test_the_repository_objectives_load_with_the_workbook_rules():
    objectives = load_objectives(REPO / "platform" / "objectives.yaml")
    assert {o.id for o in objectives} >= {"M1", "M3", "M5", "M7"}
    m1 = next(o for o in objectives if o.id == "M1")
    assert (m1.target, m1.window) == (0.99, timedelta(days=7))
    assert [(r.long_window, r.short_window, r.burn_rate) for r in m1.rules][:2] == [
        (timedelta(hours=1), timedelta(minutes=5), 14.4),
        (timedelta(hours=6), timedelta(minutes=30), 6.0)]
    assert next(o for o in objectives if o.id == "M5").within == timedelta(hours=4)


@pytest.mark.parametrize("change, message", [
    ("target: 0.99", "`target` 99 must be a share between 0 and 1"),
    ("window: 7d", "'7 days' is not a duration"),
    ("runbook: m1-run-success", "`runbook` is required"),
])
def test_a_broken_objectives_file_names_the_objective_and_the_field(tmp_path, change, message):
    text = (REPO / "platform" / "objectives.yaml").read_text()
    broken = {"target: 0.99": "target: 99", "window: 7d": "window: 7 days",
              "runbook: m1-run-success": ""}[change]
    path = tmp_path / "objectives.yaml"
    path.write_text(text.replace(change, broken, 1))
    with pytest.raises(ObjectivesError, match="objective M1") as raised:
        load_objectives(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


def outcome(run_id, minutes, ok, assets=("raw/schedule",), days=("2013-03-01", "2013-03-01")):
    return indicators.RunOutcome(run_id, NOON + minutes * MIN, ok, frozenset(assets), days)


def test_a_failed_partition_recovered_in_time_is_good_and_one_never_rebuilt_is_bad():
    four_hours = timedelta(hours=4)
    history = [
        outcome("failed-a", 0, False),
        outcome("other-day", 30, True, days=("2013-03-02", "2013-03-02")),  # not a recovery
        outcome("range-ok", 60, True, days=("2013-02-25", "2013-03-03")),  # covers the day
        outcome("failed-b", 0, False, assets=("ml/model",), days=("2013-03-03", "2013-03-03")),
    ]
    events = indicators.time_to_recover(history, four_hours, NOON + 5 * timedelta(hours=1))
    by_run = {e.subject.split()[1]: e for e in events}
    assert by_run["failed-a"].good and by_run["failed-a"].at == NOON + 60 * MIN
    assert not by_run["failed-b"].good and by_run["failed-b"].at == NOON + four_hours
    # before its time is up, an unrecovered failure is no event yet
    assert indicators.time_to_recover(history[3:], four_hours, NOON + MIN) == []


def test_what_a_failure_left_missing_may_be_rebuilt_by_several_later_runs():
    """A serving run over Feb 23..24 fails on Feb 24's refused schedule: Feb 23 was built
    before it (left as it was), Feb 24 is what it left missing. The corrected landing's run
    builds Feb 24..25, the labels' run another asset: together, not alone, they recover it."""
    four_hours, serving = timedelta(hours=4), ("raw/schedule", "features/flight_features")
    failed = outcome("serving", 0, False, assets=serving, days=("2013-02-23", "2013-02-24"))
    history = [
        failed,
        outcome("schedules", 20, True, assets=("raw/schedule",), days=("2013-02-24",) * 2),
        outcome("next-landing", 40, True, assets=("features/flight_features",),
                days=("2013-02-24", "2013-02-25")),
    ]
    later = NOON + 5 * timedelta(hours=1)
    left = {"serving": {("raw/schedule", "2013-02-24"), ("features/flight_features", "2013-02-24")}}
    (event,) = indicators.time_to_recover(history, four_hours, later, left)
    assert event.good and event.at == NOON + 40 * MIN
    # without knowing what existed before, Feb 23 must be rebuilt too: never, so bad
    (event,) = indicators.time_to_recover(history, four_hours, later)
    assert not event.good
    # a failed rebuild that left nothing missing still needs a success of what it rebuilt
    (event,) = indicators.time_to_recover(history, four_hours, later, {"serving": set()})
    assert not event.good


def test_run_success_counts_every_ended_run():
    events = indicators.run_success([outcome("a", 0, True), outcome("b", 1, False)])
    assert [e.good for e in events] == [True, False]


def test_every_objective_has_its_runbook_section():
    from tests.unit.test_docs import anchors

    sections = anchors(REPO / "docs" / "oncall.md")
    for objective in load_objectives(REPO / "platform" / "objectives.yaml"):
        assert objective.runbook in sections, (objective.id, objective.runbook)


def serving(run_id, landed_minutes_before_end, ok=True):
    end = NOON + MIN
    landed = None if landed_minutes_before_end is None else end - landed_minutes_before_end * MIN
    return indicators.ServingRun(run_id, end, ok, landed, "2013-03-08")


def test_a_day_is_served_in_time_only_when_its_run_succeeded_within_the_limit():
    runs = [serving("fast", 3), serving("slow", 90), serving("failed", 3, ok=False),
            serving("files-gone", None)]
    events = indicators.landing_to_served(runs, timedelta(hours=1))
    assert [e.good for e in events] == [True, False, False, False]
    assert "180 s after landing" in events[0].subject and "run failed" in events[2].subject
    summary = indicators.latency_summary(runs)
    assert summary["days"] == 2 and summary["mean_seconds"] == pytest.approx((180 + 5400) / 2)
    assert summary["p95_seconds"] == 5400
    assert indicators.latency_summary([serving("x", None)]) is None


def test_a_training_over_its_models_budget_is_bad_and_says_which_cost():
    budgets = {"default": {"cpu_seconds": 900.0, "peak_memory_mb": 4096.0},
               "big": {"cpu_seconds": 3600.0}}
    costs = [indicators.TrainingCost(NOON, "small", "v1", {"cpu_seconds": 30, "peak_memory_mb": 900}),
             indicators.TrainingCost(NOON, "small", "v2", {"cpu_seconds": 1200, "peak_memory_mb": 900}),
             indicators.TrainingCost(NOON, "big", "v3", {"cpu_seconds": 1200}),
             indicators.TrainingCost(NOON, "small", "v4", {"cpu_seconds": 30})]
    events = indicators.training_within_budget(costs, budgets)
    assert [e.good for e in events] == [True, False, True, False]
    assert "cpu_seconds 1200 > 900" in events[1].subject
    assert "peak_memory_mb nan > 4096" in events[3].subject  # not recorded: over


def test_budgets_must_be_positive_limits(tmp_path):
    path = tmp_path / "objectives.yaml"
    path.write_text("objectives:\n  - {id: M6, name: cost, target: 0.9, window: 7d,"
                    " runbook: x, budgets: {default: {cpu_seconds: -1}}}\n")
    with pytest.raises(ObjectivesError, match="objective M6: budgets: default"):
        load_objectives(path)


def reading(value, low, high, holdout=0.70, higher=True):
    return indicators.QualityReading(NOON, "m", "v1", "auc" if higher else "mae", higher,
                                     holdout, {"value": value, "low": low, "high": high})


def test_a_quality_gap_is_a_breach_only_beyond_the_limit_and_the_noise():
    events = indicators.quality_gap([
        reading(0.66, 0.64, 0.72),  # 6 % worse, but the interval reaches the holdout: noise
        reading(0.66, 0.65, 0.67),  # surely 4 % worse at best: a breach
        reading(0.695, 0.69, 0.694),  # surely worse, but by 0.9 % at most: within 1 %
        reading(33.0, 32.0, 34.0, holdout=30.0, higher=False),  # MAE surely 6.7 % worse
    ], max_gap=0.01)
    assert [e.good for e in events] == [True, False, True, False]
    assert "realized auc 0.660 [0.650, 0.670] against 0.700" in events[1].subject


def test_drift_alerts_are_counted_with_those_a_decay_followed():
    from datetime import date

    day = date(2013, 6, 1)
    reports = [indicators.DriftReport(day, "m", True, False),
               indicators.DriftReport(day + timedelta(days=10), "m", False, True),
               indicators.DriftReport(day + timedelta(days=20), "m", True, False),
               indicators.DriftReport(day + timedelta(days=40), "m", True, False),
               indicators.DriftReport(day + timedelta(days=45), "other", False, True)]
    assert indicators.drift_alert_rate(reports) == {"drift_alerts": 3, "followed_by_decay": 1}
