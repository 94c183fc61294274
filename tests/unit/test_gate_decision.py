"""The gate's statistics and decisions, and the estimate before labels, called directly (no
Dagster, no warehouse; tests/e2e/test_promotion.py proves the wiring)."""

from datetime import date
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, roc_auc_score

from core.evaluate.uncertainty import improvement_interval, metric_interval
from core.gate.decision import Evidence, decide, look_due, measure
from core.gate.sequential import boundaries
from core.monitor.estimation import calibration_map, estimate, expected_auc
from core.train.model_spec import Gate

AUC_GATE = Gate("auc", worst_acceptable=0.6, margin=0.002, max_plausible_gain=0.1,
                min_rows=5000, min_days=7, max_days=28, look_every_days=7)
MANUAL = Gate("auc", 0.6, 0.002, 0.1, promotion="manual")


def flights(seed=1, rows=20_000, days=28):
    """Labeled flights over ``days`` days, a day-level shock shared by the day's flights, and
    a score that carries some of the signal."""
    rng = np.random.default_rng(seed)
    day = rng.integers(0, days, rows)
    shock = rng.normal(0, 0.8, days)[day]
    late = rng.random(rows) < 1 / (1 + np.exp(-(-0.9 + shock)))
    score = 1 / (1 + np.exp(-(-0.9 + 0.6 * shock + 0.8 * (late - 0.3) + rng.normal(0, 1, rows))))
    return day, late, np.round(score, 3)  # rounded: ties, as a tree's scores have


# --- the day-block bootstrap ------------------------------------------------------------------

def test_the_interval_is_around_the_exact_metric_and_reproducible():
    day, late, score = flights()
    auc = metric_interval("auc", day, late, score)
    assert auc.value == pytest.approx(roc_auc_score(late, score), abs=1e-12)
    assert auc.low < auc.value < auc.high and (auc.rows, auc.days) == (20_000, 28)
    assert metric_interval("auc", day, late, score) == auc  # a fixed seed
    minutes = score * 60
    mae = metric_interval("mae", day, late * 60.0, minutes)
    assert mae.value == pytest.approx(mean_absolute_error(late * 60.0, minutes))


def test_whole_days_are_resampled_so_shared_shocks_widen_the_interval():
    day, late, score = flights()
    blocked = metric_interval("brier", day, late, score)
    # The same rows with a day each: the naive row bootstrap, narrower than the truth.
    rowwise = metric_interval("brier", np.arange(len(day)), late, score, resamples=500)
    assert (blocked.high - blocked.low) > 1.5 * (rowwise.high - rowwise.low)


def test_the_improvement_is_paired_and_signed_by_the_metric():
    day, late, score = flights()
    noisy = np.clip(score + np.random.default_rng(5).normal(0, 0.15, len(score)), 0, 1)
    better = improvement_interval("auc", day, late, score, noisy)
    assert better.value == pytest.approx(roc_auc_score(late, score) - roc_auc_score(late, noisy))
    assert better.low > 0  # the clean score is surely better
    worse = improvement_interval("brier", day, late, noisy, score)  # lower Brier is better
    assert worse.high < 0
    same = improvement_interval("auc", day, late, score, score)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)


# --- the decision ---------------------------------------------------------------------------

class Model(SimpleNamespace):
    def __init__(self, version, passed=True, metrics=None, **checks):
        super().__init__(version=version, metrics=metrics or {}, checks={
            **{name: {"passed": passed} for name in ("onnx_matches_sklearn", "quality_floor")},
            **{name: {"passed": ok} for name, ok in checks.items()}})


def evidence(gain, error=0.005, rows=9000, days=10, wins=6, losses=4):
    return Evidence(date(2013, 3, 3), date(2013, 3, 12), 0.70 + gain, 0.70, gain, error, rows,
                    days, wins, losses)


def boundary_at(days, previous=(), gate=AUC_GATE):
    fractions = tuple(min(d / gate.max_days, 1.0) for d in (*previous, days))
    return boundaries(fractions, gate.alpha, gate.spending)[-1]


def test_a_look_decides_by_the_gains_z_against_the_spending_boundary():
    z = boundary_at(10)  # a first look at 10 of 28 days: stricter than a single test's 1.64
    assert z > 2.5
    error = 0.005
    promote = decide(Model("new"), Model("old"), evidence(AUC_GATE.margin + (z + 0.1) * error),
                     AUC_GATE)
    assert promote.action == "promote" and "better beyond the margin" in promote.reason
    assert promote.look.days == 10 and promote.look.boundary == pytest.approx(z)
    # Above the margin, but not by the boundary: not yet.
    short = decide(Model("new"), Model("old"), evidence(AUC_GATE.margin + (z - 0.1) * error),
                   AUC_GATE)
    assert short.action == "wait" and "inconclusive" in short.reason
    worse = decide(Model("new"), Model("old"),
                   evidence(AUC_GATE.margin - (z + 0.1) * error, wins=4, losses=6), AUC_GATE)
    assert worse.action == "reject" and "not better by the margin" in worse.reason
    # The evidence is in the reason: the figures, the interval, rows, days and days won.
    assert "9,000 rows, 10 days" in promote.reason and "2013-03-03..2013-03-12" in promote.reason
    assert "better on 6 of 10 days" in promote.reason and f"boundary z {z:.2f}" in promote.reason


def test_evidence_that_exists_is_judged_at_once_then_every_week():
    weekly = Gate("auc", 0.6, 0.0, 0.1, min_days=7, look_every_days=7, max_days=56)
    strong = evidence(0.05, error=0.01, days=28, wins=22, losses=6)
    first = decide(Model("new"), Model("old"), strong, weekly)
    assert first.action == "promote" and first.look.days == 28  # not four looks: one, at 28
    inconclusive = evidence(0.01, error=0.01, days=30)
    assert decide(Model("new"), Model("old"), inconclusive, weekly,
                  previous_looks=(28,)).reason.endswith("next at 35")
    again = decide(Model("new"), Model("old"), evidence(0.01, error=0.01, days=35), weekly,
                   previous_looks=(28,))
    assert again.action == "wait" and again.look.days == 35
    # The second look's boundary knows the first was spent.
    assert again.look.boundary == pytest.approx(boundary_at(35, (28,), weekly))
    assert again.look.boundary != pytest.approx(boundary_at(35, (), weekly))


def test_too_little_evidence_waits_and_an_undecided_shadow_is_rejected_at_the_horizon():
    few_rows = decide(Model("new"), Model("old"), evidence(0.05, rows=4000), AUC_GATE)
    few_days = decide(Model("new"), Model("old"), evidence(0.05, days=6), AUC_GATE)
    assert few_rows.action == few_days.action == "wait" and few_rows.look is None
    assert "at least 5,000 rows and 7 days" in few_rows.reason
    undecided = decide(Model("new"), Model("old"), evidence(0.005, error=0.01, days=28),
                       AUC_GATE, previous_looks=(7, 14, 21))
    assert undecided.action == "reject" and "after 28 days" in undecided.reason
    assert decide(Model("new"), Model("old"), None, AUC_GATE).action == "wait"


def test_a_challenger_worse_on_most_days_is_rejected_whatever_its_pooled_gain():
    # The pooled gain is inside the noise, but it lost 22 of 28 days: a sign test at the
    # look's boundary.
    crippled = decide(Model("new"), Model("old"),
                      evidence(0.0044, error=0.016, days=28, wins=6, losses=22), AUC_GATE,
                      previous_looks=(7, 14, 21))
    assert crippled.action == "reject" and "worse on most days" in crippled.reason
    assert "better on 6 of 28 days, worse on 22" in crippled.reason


def test_a_gain_beyond_what_is_plausible_waits_for_an_operator():
    leaky = decide(Model("new"), Model("old"), evidence(0.2056, error=0.015, days=14), AUC_GATE)
    assert leaky.action == "hold" and "surely beyond 0.1" in leaky.reason
    assert "an operator" in leaky.reason
    # A large gain on a noisy first week is not surely implausible: the gate judges it.
    noisy = decide(Model("new"), Model("old"), evidence(0.12, error=0.03, days=7), AUC_GATE)
    assert noisy.action != "hold"
    # A holdout better than the same model with a perfect weather forecast: held too.
    seer = Model("new", metrics={"auc": 0.94, "perfect_forecast":
                                 {"with_weather_at_departure": 0.72}})
    assert decide(seer, None, None, AUC_GATE).action == "hold"


def test_manual_mode_and_a_pause_hold_a_passing_challenger_for_an_operator():
    passing = evidence(0.05, error=0.005)
    assert decide(Model("new"), Model("old"), passing, MANUAL).action == "approve"
    paused = decide(Model("new"), Model("old"), passing, AUC_GATE, paused=True)
    assert paused.action == "approve" and "paused" in paused.reason
    # Holding never lets a worse challenger through.
    assert decide(Model("new"), Model("old"), evidence(-0.05, wins=2, losses=8),
                  MANUAL).action == "reject"
    first = decide(Model("new"), None, None, MANUAL)
    assert first.action == "approve" and "no champion yet" in first.reason


def test_failed_checks_reject_and_the_first_model_is_promoted():
    failed = decide(Model("new", passed=False), Model("old"), evidence(0.05), AUC_GATE)
    assert failed.action == "reject" and "quality_floor" in failed.reason
    skewed = decide(Model("new", serving_skew=False), Model("old"), evidence(0.05), AUC_GATE)
    assert skewed.action == "reject" and "serving_skew" in skewed.reason
    assert decide(Model("new"), None, None, AUC_GATE).action == "promote"
    assert decide(None, Model("old"), None, AUC_GATE).action == "keep"


def test_measure_scores_both_models_on_the_same_rows_and_counts_the_days_each_won():
    day, late, score = flights()
    noisy = np.clip(score + np.random.default_rng(5).normal(0, 0.15, len(score)), 0, 1)
    days = np.datetime64("2013-03-01") + day.astype("timedelta64[D]")
    measured = measure(AUC_GATE, "classification", days, late, score, noisy, 0.3)
    assert measured.challenger_value == pytest.approx(roc_auc_score(late, score))
    assert measured.champion_value == pytest.approx(roc_auc_score(late, noisy))
    assert measured.gain == pytest.approx(measured.challenger_value - measured.champion_value)
    assert (measured.first_day, measured.last_day) == (date(2013, 3, 1), date(2013, 3, 28))
    per_day = [roc_auc_score(late[day == d], score[day == d])
               > roc_auc_score(late[day == d], noisy[day == d]) for d in range(28)]
    assert (measured.wins, measured.losses) == (sum(per_day), 28 - sum(per_day))
    interval = improvement_interval("auc", days, late, score, noisy)
    # The standard error is the bootstrap's spread: about a quarter of its 95 % width.
    assert measured.standard_error == pytest.approx((interval.high - interval.low) / 3.92,
                                                    rel=0.2)
    assert decide(Model("new"), Model("old"), measured, AUC_GATE).action == "promote"


def test_a_challenger_that_ranks_days_but_not_flights_is_rejected_before_the_horizon():
    """The crippled challenger of the issue: its scores follow each day's shared shock (the
    weather, the congestion) but barely the flights within a day, so its pooled AUC is close
    to the champion's while it loses most days. Judged as labels mature, the gate rejects it
    on that evidence before the horizon."""
    rng = np.random.default_rng(7)
    gate = Gate("auc", 0.6, 0.0, 0.1, min_days=7, look_every_days=7, max_days=56)
    days, rows = 56, 900 * 56
    day = np.repeat(np.arange(days), rows // days)
    shock = rng.normal(0, 0.9, days)[day]
    risk = rng.normal(0, 1, rows)
    late = rng.random(rows) < 1 / (1 + np.exp(-(-1.2 + shock + risk)))
    champion = 1 / (1 + np.exp(-(-1.2 + 0.5 * shock + 0.9 * risk + rng.normal(0, 1, rows))))
    challenger = 1 / (1 + np.exp(-(-1.2 + 1.0 * shock + 0.5 * risk + rng.normal(0, 1, rows))))
    dates = np.datetime64("2013-03-01") + day.astype("timedelta64[D]")
    looks, decision, seen_days = (), None, 0
    for seen_days in range(7, days + 1):
        seen = day < seen_days
        if not look_due(gate, seen_days, looks):
            continue
        evidence_now = measure(gate, "classification", dates[seen], late[seen],
                               challenger[seen], champion[seen], 0.3)
        decision = decide(Model("new"), Model("old"), evidence_now, gate, previous_looks=looks)
        looks += (decision.look.days,) if decision.look else ()
        if decision.action != "wait":
            break
    assert decision.action == "reject" and seen_days < days
    assert "worse on most days" in decision.reason
    pooled = roc_auc_score(late[day < seen_days], challenger[day < seen_days]) - roc_auc_score(
        late[day < seen_days], champion[day < seen_days])
    assert abs(pooled) < 0.03  # the pooled figure alone could not have told


# --- the estimate before labels (CBPE) -------------------------------------------------------

def test_expected_auc_with_certain_labels_is_the_auc():
    _, late, score = flights(rows=3000)
    assert expected_auc(score, late.astype(float)) == pytest.approx(roc_auc_score(late, score))


def test_a_calibrated_models_estimate_is_close_to_its_realized_auc():
    day, late, score = flights(seed=2)
    calibration = calibration_map(late[day < 14], score[day < 14])  # the "holdout"
    later = day >= 14
    estimated = estimate(score[later], calibration)
    realized = roc_auc_score(late[later], score[later])
    assert estimated["estimated_auc"] == pytest.approx(realized, abs=0.02)
    assert estimated["estimated_positive_rate"] == pytest.approx(late[later].mean(), abs=0.03)
    assert estimate([], calibration)["estimated_auc"] is None
