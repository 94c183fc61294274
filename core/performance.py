"""Realized performance: how the predictions that were served did, once the labels landed.

Always per model version: each served row is judged against its own label and credited to the
version that served it, never mixed with another version's rows. Rows a version trained on
(in-sample) are left out: they would flatter it.

``scored`` frames hold served rows with their labels: flight_date, model_version, prediction,
label, in_sample.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.evaluation import IN_LABEL_UNITS, task_metrics
from core.feature_table import read_served_labeled

# per (day, version): what is stored in monitoring.<model>_realized_performance
METRIC_COLUMNS = {
    "classification": ["rows", "positive_rate", "mean_probability", "auc", "log_loss", "brier",
                       "calibration_error"],
    "regression": ["rows", "mean_label", "mean_prediction", "mae", "rmse", "bias"],
}


def daily_columns(task: str) -> list[str]:
    return ["flight_date", "model_version", *METRIC_COLUMNS[task]]


def _metrics(frame: pd.DataFrame, task: str, flag_above: float) -> dict:
    metrics = task_metrics(task, frame["label"], frame["prediction"], flag_above)
    return {name: metrics[name] for name in METRIC_COLUMNS[task]}


def _out_of_sample(scored: pd.DataFrame) -> pd.DataFrame:
    return scored[~scored["in_sample"].astype(bool)]


def served_out_of_sample(con, spec, version: str, first: date, last: date) -> pd.DataFrame:
    """What ``version`` of ``spec``'s model served for days first..last, against the labels that
    landed, without the days it trained on."""
    return _out_of_sample(read_served_labeled(con, spec.name, spec.label, last, first, version))


def gate_metric(spec, served: pd.DataFrame) -> float | None:
    """The spec's gate metric of served rows (None without rows, or without both classes for
    a classifier)."""
    if served.empty or (spec.is_classifier and served["label"].nunique() < 2):
        return None
    return task_metrics(spec.task, served["label"], served["prediction"],
                        spec.flag_above)[spec.gate.metric]


def daily_performance(scored: pd.DataFrame, task: str, flag_above: float) -> pd.DataFrame:
    """One row per day and serving version."""
    rows = []
    for (day, version), group in _out_of_sample(scored).groupby(["flight_date", "model_version"],
                                                                 sort=True):
        rows.append({"flight_date": pd.Timestamp(day).date(), "model_version": version,
                     **_metrics(group, task, flag_above)})
    return pd.DataFrame(rows, columns=daily_columns(task))


def rolling_performance(scored: pd.DataFrame, day: date, days: int, task: str,
                        flag_above: float) -> pd.DataFrame:
    """Per serving version, the metrics over the ``days`` days ending with ``day`` (pooled
    rows: an AUC of the window, not an average of daily AUCs)."""
    first = day - timedelta(days=days - 1)
    dates = pd.to_datetime(scored["flight_date"]).dt.date
    window = _out_of_sample(scored[(dates >= first) & (dates <= day)])
    rows = []
    for version, group in window.groupby("model_version", sort=True):
        rows.append({"window": f"{first}..{day}", "days": days, "model_version": version,
                     **_metrics(group, task, flag_above)})
    return pd.DataFrame(rows, columns=["window", "days", "model_version", *METRIC_COLUMNS[task]])


def rolling_metric_series(scored: pd.DataFrame, days: int, task: str, metric: str,
                          flag_above: float) -> dict[str, tuple[list[date], list[float]]]:
    """For a plot: per version, ``metric`` over the trailing ``days`` days at each day it
    served."""
    series: dict[str, tuple[list[date], list[float]]] = {}
    fair = _out_of_sample(scored).assign(day=lambda f: pd.to_datetime(f["flight_date"]).dt.date)
    for version, group in fair.groupby("model_version", sort=True):
        xs, ys = [], []
        for day in sorted(group["day"].unique()):
            window = group[(group["day"] > day - timedelta(days=days)) & (group["day"] <= day)]
            value = _metrics(window, task, flag_above)[metric]
            if value is not None and not np.isnan(value):
                xs.append(day)
                ys.append(float(value))
        series[version] = (xs, ys)
    return series


def round_for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Figures rounded to what matters: metrics to 4 digits, rates to 3, minutes to 0.1."""
    rounded = frame.copy()
    for column in ("auc", "log_loss", "brier", "calibration_error"):
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(4)
    for column in ("positive_rate", "mean_probability"):
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(3)
    for column in IN_LABEL_UNITS:
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(1)
    return rounded.replace({np.nan: None})
