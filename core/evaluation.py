"""How good a model's probabilities are: metrics on labeled rows, per segment, and calibration.

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


def segment_auc(frame: pd.DataFrame, label: str, probabilities, column: str,
                min_rows: int = 200) -> pd.DataFrame:
    """AUC per level of ``column`` (levels with enough rows and both classes)."""
    from sklearn.metrics import roc_auc_score

    scored = frame.assign(p=probabilities)
    rows = []
    for level, group in scored.groupby(column, sort=True):
        if len(group) >= min_rows and group[label].nunique() == 2:
            rows.append({"segment": column, "level": str(level), "rows": len(group),
                         "positive_rate": round(float(group[label].mean()), 4),
                         "auc": round(float(roc_auc_score(group[label], group["p"])), 4)})
    return pd.DataFrame(rows, columns=["segment", "level", "rows", "positive_rate", "auc"])


def perfect_forecast_ablation(train: pd.DataFrame, holdout: pd.DataFrame, label: str,
                              inputs, params: dict, hindsight_columns: list[str],
                              served_auc: float | None) -> dict:
    """What a perfect forecast would add: the same model trained again with the weather at
    departure (hindsight, unknown at the prediction time) as extra inputs, judged on the same
    holdout. A labeled ablation for the evaluation, never a served model."""
    from sklearn.metrics import roc_auc_score

    from core.model_inputs import ModelInputs
    from core.modeling import sklearn_predict_proba, train_pipeline

    with_hindsight = ModelInputs((*inputs.numeric, *hindsight_columns), inputs.categorical)
    pipeline = train_pipeline(train, label, params, with_hindsight)
    auc = float(roc_auc_score(holdout[label].astype(int),
                              sklearn_predict_proba(pipeline, holdout, with_hindsight)))
    return {"auc_with_weather_at_departure": auc,
            "gain_over_served": None if served_auc is None else auc - served_auc,
            "hindsight_inputs": hindsight_columns}
