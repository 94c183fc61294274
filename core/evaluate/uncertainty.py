"""How sure a metric is: a day-block bootstrap of one model's metric, and of the paired
difference between two models scored on the same rows. Free of Dagster.

Flights of one day share their weather, their airport's congestion and their history
features, so they are not independent draws: the bootstrap resamples whole days (a block
bootstrap), and its interval is as wide as the day-to-day variation makes it. Each metric is
reduced once to per-day statistics, so that thousands of resamples are matrix products over
days, not recomputations over rows:

- mean-type metrics (log loss, Brier, MAE, RMSE): per day, the sum of the row losses and the
  row count;
- AUC: for every pair of days (d, e), how many (positive of d, negative of e) pairs are ordered
  right (ties count half). A resample that draws day d c_d times weighs that pair c_d * c_e.

Resamples use a fixed seed: the same rows give the same interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Every metric the platform judges models by, and whether higher is better.
HIGHER_IS_BETTER = {"auc": True, "log_loss": False, "brier": False, "mae": False, "rmse": False}
_EPSILON = np.finfo(np.float64).eps  # log loss clips as scikit-learn clips


@dataclass(frozen=True)
class Interval:
    """A figure with its confidence interval and the evidence behind it."""

    value: float
    low: float
    high: float
    rows: int
    days: int
    confidence: float

    def describe(self, digits: int = 4) -> str:
        return (f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"
                f" ({self.confidence:.0%} interval; {self.rows:,} rows, {self.days} days)")

    def as_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "rows": self.rows,
                "days": self.days, "confidence": self.confidence}

    @classmethod
    def from_dict(cls, stored: dict) -> "Interval":
        return cls(**{name: stored[name] for name in
                      ("value", "low", "high", "rows", "days", "confidence")})


def row_losses(metric: str, labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    if metric == "log_loss":
        p = np.clip(predictions, _EPSILON, 1 - _EPSILON)
        return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    if metric == "brier":
        return (predictions - labels) ** 2
    if metric == "mae":
        return np.abs(predictions - labels)
    if metric == "rmse":
        return (predictions - labels) ** 2
    raise ValueError(f"no per-row loss for metric {metric!r}")


class _DayStatistics:
    """A metric of one model's predictions, reduced to per-day statistics."""

    def __init__(self, metric: str, day_index: np.ndarray, n_days: int, labels: np.ndarray,
                 predictions: np.ndarray):
        self.metric = metric
        if metric == "auc":
            self.pairs = _ordered_pairs(day_index, n_days, labels, predictions)
            positives = np.bincount(day_index, weights=labels, minlength=n_days)
            self.positives = positives
            self.negatives = np.bincount(day_index, minlength=n_days) - positives
        else:
            self.sums = np.bincount(day_index, weights=row_losses(metric, labels, predictions),
                                    minlength=n_days)
            self.counts = np.bincount(day_index, minlength=n_days).astype(float)

    def evaluate(self, weights: np.ndarray) -> np.ndarray:
        """The metric under day weights (resamples x days): one value per resample."""
        weights = np.atleast_2d(weights)
        if self.metric == "auc":
            ordered = np.einsum("bd,de,be->b", weights, self.pairs, weights)
            with np.errstate(invalid="ignore", divide="ignore"):
                return ordered / ((weights @ self.positives) * (weights @ self.negatives))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (weights @ self.sums) / (weights @ self.counts)
        return np.sqrt(mean) if self.metric == "rmse" else mean


def _ordered_pairs(day_index, n_days, labels, scores) -> np.ndarray:
    """pairs[d, e]: (positive of day d, negative of day e) pairs with the positive scored
    higher, ties counting half."""
    positive = labels.astype(bool)
    negatives_by_day = [np.sort(scores[(day_index == e) & ~positive]) for e in range(n_days)]
    pairs = np.zeros((n_days, n_days))
    for d in range(n_days):
        positive_scores = scores[(day_index == d) & positive]
        if not len(positive_scores):
            continue
        for e, negative_scores in enumerate(negatives_by_day):
            below = np.searchsorted(negative_scores, positive_scores, side="left")
            tied = np.searchsorted(negative_scores, positive_scores, side="right") - below
            pairs[d, e] = below.sum() + 0.5 * tied.sum()
    return pairs


def _day_index(days) -> tuple[np.ndarray, int]:
    _, index = np.unique(np.asarray(days), return_inverse=True)
    return index.ravel(), int(index.max()) + 1 if len(index) else 0


def _resample_weights(n_days: int, resamples: int, seed: int) -> np.ndarray:
    """How often each day is drawn in each resample (days drawn with replacement)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_days, np.full(n_days, 1 / n_days), size=resamples).astype(float)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def metric_interval(metric: str, days, labels, predictions, confidence: float = 0.95,
                    resamples: int = 2000, seed: int = 0) -> Interval:
    """One model's metric on these rows, with a day-block bootstrap interval."""
    labels, predictions = np.asarray(labels, float), np.asarray(predictions, float)
    index, n_days = _day_index(days)
    statistics = _DayStatistics(metric, index, n_days, labels, predictions)
    value = float(statistics.evaluate(np.ones(n_days))[0])
    low, high = _percentiles(statistics.evaluate(_resample_weights(n_days, resamples, seed)),
                             confidence)
    return Interval(value, low, high, len(labels), n_days, confidence)


def _improvements(metric: str, days, labels, challenger, champion, resamples: int,
                  seed: int) -> tuple[float, np.ndarray, int]:
    """The challenger's gain over the champion on these rows (positive: better, whichever way
    the metric points), its paired day-block bootstrap replicates, and the number of days."""
    labels = np.asarray(labels, float)
    index, n_days = _day_index(days)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    new, old = (_DayStatistics(metric, index, n_days, labels, np.asarray(p, float))
                for p in (challenger, champion))

    def improvement(weights):
        return sign * (new.evaluate(weights) - old.evaluate(weights))

    replicates = improvement(_resample_weights(n_days, resamples, seed))
    return float(improvement(np.ones(n_days))[0]), replicates[np.isfinite(replicates)], n_days


def improvement_interval(metric: str, days, labels, challenger, champion,
                         confidence: float = 0.95, resamples: int = 2000,
                         seed: int = 0) -> Interval:
    """How much better the challenger is than the champion on the same rows, in the metric's
    units (positive: better, whichever way the metric points), with a paired day-block
    bootstrap interval: both models are judged on the same resampled days."""
    value, replicates, n_days = _improvements(metric, days, labels, challenger, champion,
                                              resamples, seed)
    low, high = _percentiles(replicates, confidence)
    return Interval(value, low, high, len(np.asarray(labels)), n_days, confidence)


def improvement_with_error(metric: str, days, labels, challenger, champion,
                           resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The challenger's gain (as improvement_interval) and its standard error: the spread of
    the paired day-block bootstrap. A z statistic of it can be looked at again and again
    under an alpha-spending boundary (core/gate/sequential.py); a percentile cannot reach the small
    tail probabilities early looks use."""
    value, replicates, _ = _improvements(metric, days, labels, challenger, champion, resamples,
                                         seed)
    return value, float(np.std(replicates, ddof=1)) if len(replicates) > 1 else float("nan")
