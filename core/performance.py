"""Realized performance: how the predictions that were served did, once the labels landed.

Always per model version: each served row is judged against its own label and credited to the
version that served it, never mixed with another version's rows. Rows a version trained on
(in-sample) are left out: they would flatter it.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from core.evaluation import classification_metrics

# per (day, version): what is stored in monitoring.realized_performance
DAILY_COLUMNS = ["flight_date", "model_version", "rows", "positive_rate", "mean_probability",
                 "auc", "log_loss", "brier", "calibration_error"]


def _metrics(frame: pd.DataFrame, threshold: float) -> dict:
    metrics = classification_metrics(frame["is_late"], frame["p_late"], threshold)
    return {name: metrics[name] for name in DAILY_COLUMNS[2:]}


def daily_performance(scored: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``scored``: served rows with their labels (flight_date, model_version, p_late, is_late,
    in_sample). One row per day and serving version."""
    rows = []
    fair = scored[~scored["in_sample"].astype(bool)]
    for (day, version), group in fair.groupby(["flight_date", "model_version"], sort=True):
        rows.append({"flight_date": pd.Timestamp(day).date(), "model_version": version,
                     **_metrics(group, threshold)})
    return pd.DataFrame(rows, columns=DAILY_COLUMNS)


def rolling_performance(scored: pd.DataFrame, day: date, days: int, threshold: float) -> pd.DataFrame:
    """Per serving version, the metrics over the ``days`` days ending with ``day`` (pooled
    rows: an AUC of the window, not an average of daily AUCs)."""
    first = day - timedelta(days=days - 1)
    dates = pd.to_datetime(scored["flight_date"]).dt.date
    window = scored[(dates >= first) & (dates <= day) & ~scored["in_sample"].astype(bool)]
    rows = []
    for version, group in window.groupby("model_version", sort=True):
        rows.append({"window": f"{first}..{day}", "days": days, "model_version": version,
                     **_metrics(group, threshold)})
    return pd.DataFrame(rows, columns=["window", "days", "model_version", *DAILY_COLUMNS[2:]])


def rolling_auc_series(scored: pd.DataFrame, days: int) -> dict[str, tuple[list[date], list[float]]]:
    """For a plot: per version, the AUC over the trailing ``days`` days at each day it served."""
    from sklearn.metrics import roc_auc_score

    series: dict[str, tuple[list[date], list[float]]] = {}
    fair = scored[~scored["in_sample"].astype(bool)].assign(
        day=pd.to_datetime(scored["flight_date"]).dt.date)
    for version, group in fair.groupby("model_version", sort=True):
        served_days = sorted(group["day"].unique())
        xs, ys = [], []
        for day in served_days:
            window = group[(group["day"] > day - timedelta(days=days)) & (group["day"] <= day)]
            if window["is_late"].nunique() == 2:
                xs.append(day)
                ys.append(float(roc_auc_score(window["is_late"].astype(int), window["p_late"])))
        series[version] = (xs, ys)
    return series


def round_for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Figures rounded to what matters: metrics to 4 digits, rates to 3."""
    rounded = frame.copy()
    for column in ("auc", "log_loss", "brier", "calibration_error"):
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(4)
    for column in ("positive_rate", "mean_probability"):
        if column in rounded:
            rounded[column] = rounded[column].astype(float).round(3)
    return rounded.replace({np.nan: None})
