"""How good a model's predictions are: metrics on labeled rows for either task, per segment,
calibration, and the perfect-forecast ablation.

scikit-learn is imported where it is used (see core/modeling.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def classification_metrics(labels, probabilities, threshold: float) -> dict:
    """AUC (None with a single class), log loss, Brier, precision and recall at the threshold,
    the positive rate and the mean probability, and the expected calibration error."""
    from sklearn.metrics import (
        brier_score_loss,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = np.asarray(labels).astype(int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = (probabilities >= threshold).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        "rows": int(len(labels)),
        "positive_rate": float(labels.mean()),
        "mean_probability": float(probabilities.mean()),
        "auc": float(roc_auc_score(labels, probabilities)) if both_classes else None,
        "log_loss": float(log_loss(labels, probabilities, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, probabilities)),
        "calibration_error": calibration_error(labels, probabilities),
        "threshold": threshold,
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
    }


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


def calibration_error(labels, probabilities, bins: int = 10) -> float:
    """Expected calibration error: |observed rate - mean probability| over equal-count bins,
    weighted by the bins' rows."""
    frame = pd.DataFrame({"y": np.asarray(labels, dtype=float),
                          "p": np.asarray(probabilities, dtype=float)})
    if frame.empty:
        return float("nan")
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(bins, len(frame)),
                           labels=False)
    grouped = frame.groupby("bin").agg(y=("y", "mean"), p=("p", "mean"), n=("y", "size"))
    return float((grouped["n"] * (grouped["y"] - grouped["p"]).abs()).sum() / len(frame))


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
    from core.model_inputs import ModelInputs
    from core.modeling import sklearn_predict, train_pipeline

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
