"""Performance before the labels arrive, free of Dagster: confidence-based performance
estimation (CBPE, as NannyML does it) for a classifier.

A served day's labels land a day later; its predictions are there at once. If the model's
probabilities are calibrated, each flight is late with its (calibrated) probability p, so the
day's expected AUC is the AUC with every flight counted as a positive of weight p and a negative
of weight 1 - p, and its expected positive rate is the mean of p. The calibration is an
isotonic map fitted on the version's holdout (core/evaluation's rows, at evaluation time). The
estimate assumes the relation between probability and outcome holds: when it does not (concept
drift), the estimate's error, tracked once the labels land, shows it.
"""

from __future__ import annotations

import numpy as np

_POINTS = 4  # digits kept of the calibration map's points


def calibration_map(labels, probabilities) -> dict[str, list[float]]:
    """An isotonic map from served probability to observed rate, as its breakpoints."""
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
        np.asarray(probabilities, float), np.asarray(labels, float))
    return {"x": [round(float(x), _POINTS) for x in fitted.X_thresholds_],
            "y": [round(float(y), _POINTS) for y in fitted.y_thresholds_]}


def calibrated(probabilities, calibration: dict[str, list[float]]) -> np.ndarray:
    return np.interp(np.asarray(probabilities, float), calibration["x"], calibration["y"])


def expected_auc(scores, positive_weights) -> float | None:
    """AUC where each row is a positive of weight w and a negative of weight 1 - w, ordered
    by ``scores`` (ties count half)."""
    scores, weights = np.asarray(scores, float), np.asarray(positive_weights, float)
    levels, index = np.unique(scores, return_inverse=True)
    positives = np.bincount(index, weights=weights, minlength=len(levels))
    negatives = np.bincount(index, weights=1 - weights, minlength=len(levels))
    total = positives.sum() * negatives.sum()
    if total <= 0:
        return None
    below = np.cumsum(negatives) - negatives  # negative weight scored lower than each level
    return float((positives * (below + 0.5 * negatives)).sum() / total)


def estimate(probabilities, calibration: dict[str, list[float]]) -> dict[str, float | None]:
    """A day's expected AUC and positive rate from its served probabilities alone."""
    if not len(probabilities):
        return {"estimated_auc": None, "estimated_positive_rate": None}
    expected = calibrated(probabilities, calibration)
    return {"estimated_auc": expected_auc(probabilities, expected),
            "estimated_positive_rate": float(expected.mean())}
