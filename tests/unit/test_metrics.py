"""How good predictions are (core/evaluate/metrics.py): the metrics of either task held to
scikit-learn's definitions, rounded to what matters. Called directly."""


import numpy as np
import pandas as pd
import pytest


def test_regression_metrics_in_the_labels_units():
    from core.evaluate.metrics import regression_metrics

    metrics = regression_metrics([0.0, 10.0, 40.0], [5.0, 10.0, 16.0], flag_above=15.0)
    assert metrics["mae"] == pytest.approx((5 + 0 + 24) / 3)
    assert metrics["rmse"] == pytest.approx(((25 + 0 + 576) / 3) ** 0.5)
    assert metrics["bias"] == pytest.approx((5 + 0 - 24) / 3)
    # flagged: 16 (late 40: right); not flagged: 5 and 10 (on time: right)
    assert (metrics["precision"], metrics["recall"]) == (1.0, 1.0)


def _pandas_calibration_error(labels, probabilities, bins=10):
    """The expected calibration error as pandas defines its bins (qcut of first-ranks)."""
    frame = pd.DataFrame({"y": np.asarray(labels, dtype=float), "p": probabilities})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(bins, len(frame)),
                           labels=False)
    grouped = frame.groupby("bin").agg(y=("y", "mean"), p=("p", "mean"), n=("y", "size"))
    return (grouped["n"] * (grouped["y"] - grouped["p"]).abs()).sum() / len(frame)


@pytest.mark.parametrize("rows, ties, seed", [(1, False, 0), (7, False, 1), (900, False, 2),
                                              (900, True, 3), (2500, True, 4), (13, True, 5)])
def test_classification_metrics_are_scikit_learns(rows, ties, seed):
    from sklearn.metrics import (
        brier_score_loss,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    from core.evaluate.metrics import classification_metrics

    rng = np.random.default_rng(seed)
    probabilities = rng.beta(2, 5, rows)
    if ties:  # a model's scores repeat: few distinct values, some at the threshold exactly
        probabilities = np.round(probabilities * 20) / 20
    labels = (rng.random(rows) < probabilities).astype(int)
    labels[0] = 1 - labels[-1] if rows > 1 else labels[0]  # both classes, where rows allow
    metrics = classification_metrics(labels, probabilities, threshold=0.3)
    predicted = (probabilities >= 0.3).astype(int)
    if len(set(labels)) == 2:
        assert metrics["auc"] == pytest.approx(roc_auc_score(labels, probabilities), abs=1e-12)
    else:
        assert metrics["auc"] is None
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, probabilities, labels=[0, 1]),
                                                abs=1e-12)
    assert metrics["brier"] == pytest.approx(brier_score_loss(labels, probabilities), abs=1e-12)
    assert metrics["precision"] == pytest.approx(precision_score(labels, predicted,
                                                                 zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(labels, predicted, zero_division=0))
    assert metrics["calibration_error"] == pytest.approx(
        _pandas_calibration_error(labels, probabilities), abs=1e-12)


def test_metrics_of_a_single_class_and_of_nothing_flagged():
    from core.evaluate.metrics import classification_metrics

    metrics = classification_metrics([0, 0, 0], [0.1, 0.2, 0.2], threshold=0.5)
    assert metrics["auc"] is None
    assert (metrics["precision"], metrics["recall"]) == (0.0, 0.0)
    assert metrics["positive_rate"] == 0.0


def test_figures_are_rounded_to_what_matters():
    from core.evaluate.metrics import for_people

    assert for_people("auc", 0.694712) == 0.6947
    assert for_people("mae", 17.4567) == 17.5
    assert for_people("auc", None) is None


