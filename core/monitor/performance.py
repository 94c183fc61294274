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

from core.evaluate.metrics import IN_LABEL_UNITS, task_metrics
from core.evaluate.uncertainty import Interval, metric_interval
from core.monitor.estimation import estimate
from core.transform.feature_table import read_served_labeled

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


def realized_interval(spec, served: pd.DataFrame, confidence: float = 0.95) -> Interval | None:
    """The gate metric of served rows with its day-block bootstrap interval (None where
    gate_metric has none)."""
    if gate_metric(spec, served) is None:
        return None
    return metric_interval(spec.gate.metric, served["flight_date"], served["label"],
                           served["prediction"], confidence)


def daily_performance(scored: pd.DataFrame, task: str, flag_above: float) -> pd.DataFrame:
    """One row per day and serving version."""
    rows = []
    for (day, version), group in _out_of_sample(scored).groupby(["flight_date", "model_version"],
                                                                 sort=True):
        rows.append({"flight_date": pd.Timestamp(day).date(), "model_version": version,
                     **_metrics(group, task, flag_above)})
    return pd.DataFrame(rows, columns=daily_columns(task))


# Before the labels land, a classifier's day is estimated from its served probabilities
# (core/monitor/estimation.py); once they land, the estimate's error is kept beside the realized AUC.
ESTIMATE_COLUMNS = ["served_rows", "estimated_auc", "estimated_positive_rate", "estimate_error"]


def daily_estimates(served: pd.DataFrame, calibrations: dict[str, dict | None]) -> pd.DataFrame:
    """Per day and serving version: rows served and the estimated AUC and positive rate, with
    each version's calibration map (labels are not needed)."""
    rows = []
    for (day, version), group in _out_of_sample(served).groupby(["flight_date", "model_version"],
                                                                sort=True):
        calibration = calibrations.get(version)
        rows.append({"flight_date": pd.Timestamp(day).date(), "model_version": version,
                     "served_rows": len(group),
                     **(estimate(group["prediction"], calibration) if calibration else {})})
    return pd.DataFrame(rows, columns=["flight_date", "model_version", *ESTIMATE_COLUMNS[:-1]])


def with_estimates(daily: pd.DataFrame, estimates: pd.DataFrame) -> pd.DataFrame:
    """Realized and estimated figures side by side; the estimate's error where both exist."""
    merged = estimates.merge(daily, on=["flight_date", "model_version"], how="outer")
    merged["estimate_error"] = (merged["auc"].astype(float)
                                - merged["estimated_auc"].astype(float))
    return merged.sort_values(["flight_date", "model_version"], ignore_index=True)


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
    fair = _out_of_sample(scored).assign(
        day=lambda f: pd.to_datetime(f["flight_date"]).dt.normalize())
    for version, group in fair.groupby("model_version", sort=True):
        # Sorted by day, each trailing window is a slice: a year is 365 slices, not 365 scans.
        group = group.sort_values("day", kind="stable")
        day_values = group["day"].to_numpy()
        xs, ys = [], []
        for day in np.unique(day_values):
            start = np.searchsorted(day_values, day - np.timedelta64(days, "D"), side="right")
            end = np.searchsorted(day_values, day, side="right")
            value = _metrics(group.iloc[start:end], task, flag_above)[metric]
            if value is not None and not np.isnan(value):
                xs.append(pd.Timestamp(day).date())
                ys.append(float(value))
        series[version] = (xs, ys)
    return series


def round_for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Figures rounded to what matters: metrics to 4 digits, rates to 3, minutes to 0.1."""
    rounded = frame.copy()
    for column in ("auc", "log_loss", "brier", "calibration_error", "estimated_auc",
                   "estimate_error"):
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(4)
    for column in ("positive_rate", "mean_probability", "estimated_positive_rate"):
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(3)
    for column in IN_LABEL_UNITS:
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(1)
    return rounded.replace({np.nan: None})
