"""Plots for asset metadata: PNGs embedded in markdown, so they show in the Dagster UI.

matplotlib and scikit-learn are imported when a plot is drawn, not when the definitions load
(see assets/modeling.py).
"""

import base64
import io

import numpy as np
from dagster import MetadataValue


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    return plt


def _markdown_image(figure, title: str) -> MetadataValue:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    _pyplot().close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def roc_plot(labels, probabilities, title: str) -> MetadataValue:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, probabilities)
    figure, axes = _pyplot().subplots(figsize=(4, 4))
    axes.plot(fpr, tpr, label="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    axes.legend(loc="lower right")
    return _markdown_image(figure, title)


def calibration_plot(labels, probabilities, title: str) -> MetadataValue:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(labels, probabilities, n_bins=10, strategy="quantile")
    figure, axes = _pyplot().subplots(figsize=(4, 4))
    axes.plot(predicted, observed, marker="o", label="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.set(xlabel="mean predicted P(delay)", ylabel="observed delay rate", title=title)
    axes.legend(loc="upper left")
    return _markdown_image(figure, title)


def line_plot(x, y, title: str, ylabel: str) -> MetadataValue:
    figure, axes = _pyplot().subplots(figsize=(7, 3))
    axes.plot(x, y, marker="o")
    axes.set(title=title, ylabel=ylabel)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return _markdown_image(figure, title)


def lines_plot(series: dict[str, tuple[list, list]], title: str, ylabel: str) -> MetadataValue:
    """One line per series (e.g. per model version), over time."""
    figure, axes = _pyplot().subplots(figsize=(7, 3))
    for label, (x, y) in series.items():
        axes.plot(x, y, label=label)
    axes.set(title=title, ylabel=ylabel)
    axes.grid(alpha=0.3)
    if series:
        axes.legend(fontsize="small")
    figure.autofmt_xdate()
    return _markdown_image(figure, title)


def bar_plot(labels, values, title: str, ylabel: str, threshold: float | None = None) -> MetadataValue:
    figure, axes = _pyplot().subplots(figsize=(7, 3))
    positions = np.arange(len(labels))
    axes.bar(positions, values)
    axes.set_xticks(positions, labels, rotation=45, ha="right")
    if threshold is not None:
        axes.axhline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
        axes.legend()
    axes.set(title=title, ylabel=ylabel)
    return _markdown_image(figure, title)


def scatter_plot(x, y, title: str, xlabel: str, ylabel: str, max_points: int = 5000) -> MetadataValue:
    """Predicted against actual (a sample of at most ``max_points``), with the diagonal."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) > max_points:
        keep = np.random.default_rng(0).choice(len(x), max_points, replace=False)
        x, y = x[keep], y[keep]
    figure, axes = _pyplot().subplots(figsize=(4, 4))
    axes.scatter(x, y, s=4, alpha=0.3)
    if len(x):
        low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        axes.plot([low, high], [low, high], linestyle="--", color="grey", label="perfect")
        axes.legend(loc="upper left")
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return _markdown_image(figure, title)
