"""How good a model's predictions are: metrics on labeled rows for either task, per segment,
calibration, and the perfect-forecast ablation.

The metrics are computed in numpy, with scikit-learn's definitions (tests/unit/test_training.py
holds them to scikit-learn's functions); scikit-learn itself is imported where a model is
trained (see core/train/modeling.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluate.uncertainty import row_losses


def classification_metrics(labels, probabilities, threshold: float) -> dict:
    """AUC (None with a single class), log loss, Brier, precision and recall at the threshold,
    the positive rate and the mean probability, and the expected calibration error.

    In numpy, the same figures as scikit-learn's roc_auc_score, log_loss, brier_score_loss,
    precision_score and recall_score (zero_division=0; tests/unit/test_training.py compares them):
    realized performance computes them per day and per trailing window, hundreds of times a
    run, where scikit-learn's input validation took ~6 ms a call for a day's ~900 rows."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities >= threshold
    positive = labels == 1
    true_positives = int((predicted & positive).sum())
    return {
        "rows": int(len(labels)),
        "positive_rate": float(labels.mean()),
        "mean_probability": float(probabilities.mean()),
        "auc": _auc(positive, probabilities),
        "log_loss": float(np.mean(row_losses("log_loss", labels, probabilities))),
        "brier": float(np.mean(row_losses("brier", labels, probabilities))),
        "calibration_error": calibration_error(labels, probabilities),
        "threshold": threshold,
        "precision": true_positives / int(predicted.sum()) if predicted.any() else 0.0,
        "recall": true_positives / int(positive.sum()) if positive.any() else 0.0,
    }


def _auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """The area under the ROC curve as the Mann-Whitney statistic: the share of (positive,
    negative) pairs scored in the right order, ties counting half (None with a single class)."""
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if not positives or not negatives:
        return None
    ranks = _average_ranks(scores)  # a tie counts half
    return float((ranks[positive].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def regression_metrics(labels, predictions, flag_above: float) -> dict:
    """MAE, RMSE and bias (mean of prediction - label) in the label's units, and how often the
    flag (prediction >= flag_above) agrees with the label being at or above it."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    errors = predictions - labels
    flagged, actual = predictions >= flag_above, labels >= flag_above
    return {
        "rows": int(len(labels)),
        "mean_label": float(labels.mean()) if len(labels) else None,
        "mean_prediction": float(predictions.mean()) if len(labels) else None,
        "mae": float(np.abs(errors).mean()) if len(labels) else None,
        "rmse": float(np.sqrt((errors ** 2).mean())) if len(labels) else None,
        "bias": float(errors.mean()) if len(labels) else None,
        "threshold": flag_above,
        "precision": float(actual[flagged].mean()) if flagged.any() else 0.0,
        "recall": float(flagged[actual].mean()) if actual.any() else 0.0,
    }


def task_metrics(task: str, labels, predictions, flag_above: float) -> dict:
    if task == "classification":
        return classification_metrics(labels, predictions, flag_above)
    return regression_metrics(labels, predictions, flag_above)


# What people see of each task's metrics, in this order.
REPORTED = {"classification": ("auc", "log_loss", "brier", "calibration_error", "precision",
                               "recall", "positive_rate"),
            "regression": ("mae", "rmse", "bias", "mean_label", "mean_prediction", "precision",
                           "recall")}


# Figures in the label's units (minutes): 0.1 is what matters; AUC, rates, losses: 4 digits.
IN_LABEL_UNITS = ("mae", "rmse", "bias", "mean_label", "mean_prediction")


def for_people(name: str, value: float | None) -> float | None:
    """A metric rounded to what matters for the people reading it."""
    if value is None:
        return None
    return round(value, 1) if name in IN_LABEL_UNITS else round(value, 4)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def calibration_error(labels, probabilities, bins: int = 10) -> float:
    """Expected calibration error: |observed rate - mean probability| over equal-count bins,
    weighted by the bins' rows. Bins are cut on the probabilities' ranks (ties broken by
    position), as pandas.qcut cuts them: a bin holds ranks above one quantile, up to the next."""
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    rows = len(probabilities)
    if not rows:
        return float("nan")
    ranks = np.empty(rows)
    ranks[np.argsort(probabilities, kind="stable")] = np.arange(1, rows + 1)
    edges = np.quantile(np.arange(1, rows + 1), np.linspace(0, 1, min(bins, rows) + 1))
    bin_of = np.clip(np.searchsorted(edges, ranks, side="left") - 1, 0, None)
    counts = np.bincount(bin_of)
    filled = counts > 0
    observed = np.bincount(bin_of, weights=labels)[filled] / counts[filled]
    expected = np.bincount(bin_of, weights=probabilities)[filled] / counts[filled]
    return float((counts[filled] * np.abs(observed - expected)).sum() / rows)


def segment_metric(frame: pd.DataFrame, label: str, predictions, column: str, task: str,
                   metric: str, min_rows: int = 200) -> pd.DataFrame:
    """``metric`` per level of ``column`` (levels with enough rows, and both classes for a
    classifier)."""
    scored = frame.assign(prediction=predictions)
    rows = []
    for level, group in scored.groupby(column, sort=True):
        if len(group) < min_rows or (task == "classification" and group[label].nunique() < 2):
            continue
        value = task_metrics(task, group[label], group["prediction"], 0.5)[metric]
        rows.append({"segment": column, "level": str(level), "rows": len(group),
                     "mean_label": round(float(group[label].astype(float).mean()), 4),
                     metric: round(float(value), 4)})
    return pd.DataFrame(rows, columns=["segment", "level", "rows", "mean_label", metric])


def perfect_forecast_ablation(train: pd.DataFrame, holdout: pd.DataFrame, spec,
                              hindsight_columns: list[str], served_value: float | None) -> dict:
    """What a perfect forecast would add: the same model trained again with the weather at
    departure (hindsight, unknown at the prediction time) as extra inputs, judged on the same
    holdout with the spec's gate metric. A labeled ablation for the evaluation, never a served
    model."""
    from core.train.modeling import sklearn_predict, train_pipeline
    from core.transform.model_inputs import ModelInputs

    with_hindsight = ModelInputs((*spec.inputs.numeric, *hindsight_columns),
                                 spec.inputs.categorical)
    pipeline = train_pipeline(train, spec.label, spec.estimator, spec.params, with_hindsight,
                              spec.task)
    predictions = sklearn_predict(pipeline, holdout, with_hindsight, spec.task)
    value = task_metrics(spec.task, holdout[spec.label], predictions,
                         spec.flag_above)[spec.gate.metric]
    return {"metric": spec.gate.metric, "with_weather_at_departure": value,
            "gain_over_served": None if served_value is None or value is None
            else value - served_value,
            "hindsight_inputs": hindsight_columns}
