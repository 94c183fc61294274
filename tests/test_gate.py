"""The gate's statistics and decisions, and the estimate before labels, called directly (no
Dagster, no warehouse; tests/test_loop.py proves the wiring)."""

from datetime import date
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, roc_auc_score

from core.estimation import calibration_map, estimate, expected_auc
from core.gate import Evidence, decide, measure
from core.model_spec import Gate
from core.uncertainty import Interval, improvement_interval, metric_interval

AUC_GATE = Gate("auc", worst_acceptable=0.6, margin=0.002, min_rows=5000, min_days=7,
                max_days=28, look_every_days=1)
MANUAL = Gate("auc", 0.6, 0.002, promotion="manual", look_every_days=1)


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
    def __init__(self, version, passed=True):
        super().__init__(version=version, checks={
            name: {"passed": passed} for name in ("onnx_matches_sklearn", "quality_floor")})


def evidence(low, high, rows=9000, days=10):
    return Evidence(date(2013, 3, 3), date(2013, 3, 12), 0.71, 0.70,
                    Interval((low + high) / 2, low, high, rows, days, 0.95))


@pytest.mark.parametrize("interval, action, says", [
    ((0.004, 0.02), "promote", "better beyond the margin"),
    ((0.001, 0.02), "wait", "the interval includes the margin"),
    ((-0.03, -0.01), "reject", "not better by the margin"),
    ((-0.01, 0.0019), "reject", "not better by the margin"),
])
def test_the_interval_against_the_margin_decides(interval, action, says):
    decision = decide(Model("new"), Model("old"), evidence(*interval), AUC_GATE)
    assert decision.action == action and says in decision.reason
    # The evidence is in the reason: the figures, the interval, rows and days.
    assert "9,000 rows, 10 days" in decision.reason and "2013-03-03..2013-03-12" in decision.reason


def test_the_gate_looks_every_week_of_evidence_not_every_day():
    weekly = Gate("auc", 0.6, 0.002, min_days=7, look_every_days=7, max_days=28)
    assert decide(Model("new"), Model("old"), evidence(0.004, 0.02, days=14), weekly).action \
        == "promote"
    between = decide(Model("new"), Model("old"), evidence(0.004, 0.02, days=10), weekly)
    assert between.action == "wait" and "next at 14" in between.reason
    assert decide(Model("new"), Model("old"), evidence(-0.03, -0.01, days=11),
                  weekly).action == "wait"  # a reject waits for the look too


def test_too_little_evidence_waits_and_a_long_undecided_shadow_is_rejected():
    few_rows = decide(Model("new"), Model("old"), evidence(0.01, 0.03, rows=4000), AUC_GATE)
    few_days = decide(Model("new"), Model("old"), evidence(0.01, 0.03, days=6), AUC_GATE)
    assert few_rows.action == few_days.action == "wait"
    assert "at least 5,000 rows and 7 days" in few_rows.reason
    undecided = decide(Model("new"), Model("old"), evidence(0.0, 0.01, days=28), AUC_GATE)
    assert undecided.action == "reject" and "after 28 days" in undecided.reason
    nothing = decide(Model("new"), Model("old"), None, AUC_GATE)
    assert nothing.action == "wait"


def test_manual_mode_and_a_pause_hold_a_passing_challenger_for_an_operator():
    passing = evidence(0.004, 0.02)
    assert decide(Model("new"), Model("old"), passing, MANUAL).action == "approve"
    paused = decide(Model("new"), Model("old"), passing, AUC_GATE, paused=True)
    assert paused.action == "approve" and "paused" in paused.reason
    # Holding never lets a worse challenger through.
    assert decide(Model("new"), Model("old"), evidence(-0.03, -0.01), MANUAL).action == "reject"
    first = decide(Model("new"), None, None, MANUAL)
    assert first.action == "approve" and "no champion yet" in first.reason


def test_failed_checks_reject_and_the_first_model_is_promoted():
    failed = decide(Model("new", passed=False), Model("old"), evidence(0.01, 0.03), AUC_GATE)
    assert failed.action == "reject" and "quality_floor" in failed.reason
    assert decide(Model("new"), None, None, AUC_GATE).action == "promote"
    assert decide(None, Model("old"), None, AUC_GATE).action == "keep"


def test_measure_scores_both_models_on_the_same_rows():
    day, late, score = flights()
    noisy = np.clip(score + np.random.default_rng(5).normal(0, 0.15, len(score)), 0, 1)
    days = np.datetime64("2013-03-01") + day.astype("timedelta64[D]")
    measured = measure(AUC_GATE, "classification", days, late, score, noisy, 0.3)
    assert measured.challenger_value == pytest.approx(roc_auc_score(late, score))
    assert measured.champion_value == pytest.approx(roc_auc_score(late, noisy))
    assert (measured.first_day, measured.last_day) == (date(2013, 3, 1), date(2013, 3, 28))
    assert decide(Model("new"), Model("old"), measured, AUC_GATE).action == "promote"


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
