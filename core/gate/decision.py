"""The promotion gate, free of Dagster: a challenger replaces the champion only with evidence.

Both models are scored on the same labeled days that neither trained on: the challenger's
holdout, then every shadow day whose labels have matured, up to the spec's horizon
(``max_days``). The evidence is the gain in the spec's metric over the pooled rows, with its
paired day-block bootstrap standard error (core/evaluate/uncertainty.py), and the days each model won.

The gate looks at whatever evidence exists when it is asked, at once, and again each time
``look_every_days`` more days have matured. Each look spends part of the error rate
(``alpha``, one-sided, over all looks) by the share of the horizon seen (core/gate/sequential.py),
so looking often or late costs nothing in false promotions. At a look with boundary z:

- promote: the gain is above the margin by z standard errors (approve instead, to wait for an
  operator, when promotion is manual or paused);
- reject: the gain is below the margin by z standard errors, or the challenger lost
  significantly more days than it won (a sign test against the same z: a model worse on most
  days is worse, whatever a pooled figure says), or the horizon passed without evidence either
  way; a challenger that failed a blocking check (or the serving-skew check) is rejected at
  once;
- hold: the challenger is better than is plausible (beyond ``max_plausible_gain``, or better on
  its holdout than a perfect weather forecast): an input may know the outcome, so an operator
  decides;
- wait: not enough rows or days yet, no look due, or the evidence is inconclusive: the
  challenger keeps shadowing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from core.evaluate.uncertainty import improvement_with_error
from core.gate.sequential import boundaries
from core.train.model_spec import Gate, metric_label

REQUIRED_CHECKS = ("onnx_matches_sklearn", "quality_floor")
# A gain is implausible when even its low end (this many standard errors below) is beyond the
# spec's max_plausible_gain: a noisy first week of a real improvement is not held.
PLAUSIBLE_Z = 1.96


@dataclass(frozen=True)
class Evidence:
    """The two models on the same days: their metric, the gain with its standard error, and
    the days each won."""

    first_day: date
    last_day: date
    challenger_value: float
    champion_value: float
    gain: float  # the challenger's improvement in the metric's units (positive: better)
    standard_error: float  # of the gain: the paired day-block bootstrap's spread
    rows: int
    days: int
    wins: int  # days on which the challenger's metric is better
    losses: int  # ... worse

    def as_dict(self) -> dict:
        return {"days": [str(self.first_day), str(self.last_day)], "rows": self.rows,
                "day_count": self.days, "challenger_value": self.challenger_value,
                "champion_value": self.champion_value, "gain": self.gain,
                "standard_error": self.standard_error, "wins": self.wins,
                "losses": self.losses}

    @property
    def sign_z(self) -> float:
        """The sign test of the days won against those lost: about N(0, 1) when neither model
        is better on a typical day."""
        decided = self.wins + self.losses
        return (self.wins - self.losses) / math.sqrt(decided) if decided else 0.0


@dataclass(frozen=True)
class Look:
    """One look of the gate at a challenger: on how many days, and the boundary it used."""

    days: int
    fraction: float  # of the horizon
    boundary: float  # z
    gain_z: float
    sign_z: float

    def as_dict(self) -> dict:
        return {"days": self.days, "fraction": round(self.fraction, 4),
                "boundary": round(self.boundary, 3), "gain_z": round(self.gain_z, 3),
                "sign_z": round(self.sign_z, 3)}

    def interval(self, evidence: Evidence) -> tuple[float, float]:
        """The gain's interval at this look's boundary (it excludes the margin exactly when
        the gate decides on the gain)."""
        half = self.boundary * evidence.standard_error
        return evidence.gain - half, evidence.gain + half


@dataclass(frozen=True)
class Decision:
    action: str  # promote | approve | hold | wait | reject | keep
    reason: str
    evidence: Evidence | None = None
    look: Look | None = None

    def details(self) -> dict:
        """What the decision log keeps of it (ml.champion_decisions.details)."""
        return {**({"evidence": self.evidence.as_dict()} if self.evidence else {}),
                **({"look": self.look.as_dict(), "interval": list(self.look.interval(
                    self.evidence))} if self.look else {})}


def failed_checks(model) -> list[str]:
    """The blocking checks a model has not passed, and any other recorded check it failed
    (serving skew, found while it shadows)."""
    checks = model.checks or {}
    return [*(name for name in REQUIRED_CHECKS if not checks.get(name, {}).get("passed")),
            *(name for name, check in sorted(checks.items())
              if name not in REQUIRED_CHECKS and not check.get("passed"))]


def first_comparison_day(challenger, champion) -> date:
    """The first day neither model trained on: both models' holdouts start at their cutoffs."""
    return max(challenger.holdout_start, champion.holdout_start)


def daily_values(task: str, metric: str, days, labels, predictions,
                 flag_above: float) -> pd.Series:
    """The metric per day (days where it is undefined, e.g. an AUC of one class, left out)."""
    from core.evaluate.metrics import task_metrics

    frame = pd.DataFrame({"day": pd.to_datetime(pd.Series(np.asarray(days))).dt.date,
                          "label": np.asarray(labels), "prediction": np.asarray(predictions)})
    values = {day: task_metrics(task, group["label"], group["prediction"], flag_above)[metric]
              for day, group in frame.groupby("day", sort=True)}
    return pd.Series({day: value for day, value in values.items() if value is not None},
                     dtype="float64")


def measure(gate: Gate, task: str, days, labels, challenger_predictions, champion_predictions,
            flag_above: float) -> Evidence:
    """Both models' metric on the same labeled rows, the paired gain with its standard error,
    and the days each model won."""
    from core.evaluate.metrics import task_metrics

    values = [task_metrics(task, labels, predictions, flag_above)[gate.metric]
              for predictions in (challenger_predictions, champion_predictions)]
    gain, error = improvement_with_error(gate.metric, days, labels, challenger_predictions,
                                         champion_predictions)
    new, old = (daily_values(task, gate.metric, days, labels, predictions, flag_above)
                for predictions in (challenger_predictions, champion_predictions))
    better = (new - old) if gate.higher_is_better else (old - new)
    day_list = pd.to_datetime(pd.Series(np.asarray(days))).dt.date
    return Evidence(day_list.min(), day_list.max(), *values, gain, error, len(day_list),
                    day_list.nunique(), int((better > 1e-12).sum()), int((better < -1e-12).sum()))


def look_due(gate: Gate, days: int, previous_looks: tuple[int, ...]) -> bool:
    """Whether the gate looks at this many days of evidence: at once the first time, then each
    ``look_every_days`` more days, and at the horizon."""
    if not previous_looks:
        return True
    last = previous_looks[-1]
    return days > last and (days - last >= gate.look_every_days
                            or (days >= gate.max_days > last))


def implausible(challenger, evidence: Evidence | None, gate: Gate) -> str | None:
    """Why the challenger is better than it could honestly be (None: it is not): a gain surely
    beyond ``max_plausible_gain`` on the days neither model trained on, or a holdout figure better
    than the same model reaches with the weather at departure, a perfect forecast (when its
    evaluation computed that ablation)."""
    metric, sign = gate.metric, 1.0 if gate.higher_is_better else -1.0
    if evidence is not None and math.isfinite(evidence.standard_error):
        surely = evidence.gain - PLAUSIBLE_Z * evidence.standard_error
        if surely > gate.max_plausible_gain:
            return (f"its {metric_label(metric)} gain {evidence.gain:+.4f} on the days neither"
                    f" trained on is surely beyond {gate.max_plausible_gain} (at least"
                    f" {surely:+.4f}, {PLAUSIBLE_Z} standard errors below)")
    metrics = challenger.metrics or {}
    own = metrics.get(metric)
    forecast = (metrics.get("perfect_forecast") or {}).get("with_weather_at_departure")
    if own is not None and forecast is not None and sign * (own - forecast) > 0:
        return (f"its holdout {metric_label(metric)} {own:.4f} beats what it reaches with a"
                f" perfect weather forecast ({forecast:.4f})")
    return None


def decide(challenger, champion, evidence: Evidence | None, gate: Gate, paused: bool = False,
           previous_looks: tuple[int, ...] = ()) -> Decision:
    """What to do with ``challenger``, given the evidence gathered on the days neither model
    trained on (None: no such day has labels yet) and the days of the gate's earlier looks at
    it."""
    if challenger is None:
        return Decision("keep", "no challenger is waiting: the champion stays")
    failed = failed_checks(challenger)
    if failed:
        return Decision("reject", f"challenger {challenger.version} did not pass {failed}")
    hold = _why_held(gate, paused)
    too_good = implausible(challenger, evidence, gate)
    if too_good:
        return Decision("hold", f"{challenger.version} is held for an operator: {too_good};"
                                " an input may know the outcome (promote or reject it)",
                        evidence)
    if champion is None:
        reason = f"no champion yet; {challenger.version} passed its blocking checks"
        return Decision("approve", f"{reason}; {hold}") if hold else Decision("promote", reason)
    if evidence is None:
        return Decision("wait", "no labeled day that neither model trained on yet")

    metric = metric_label(gate.metric)
    measured = (f"{metric} {evidence.challenger_value:.4f} vs champion"
                f" {evidence.champion_value:.4f} on {evidence.first_day}..{evidence.last_day}"
                f" ({evidence.rows:,} rows, {evidence.days} days); better on {evidence.wins} of"
                f" {evidence.days} days, worse on {evidence.losses}")
    if evidence.rows < gate.min_rows or evidence.days < gate.min_days:
        return Decision("wait", f"too little evidence yet: {measured}; the gate needs at least"
                                f" {gate.min_rows:,} rows and {gate.min_days} days", evidence)
    if not look_due(gate, evidence.days, previous_looks):
        upcoming = min(previous_looks[-1] + gate.look_every_days, gate.max_days)
        return Decision("wait", f"{measured}; the gate looks every {gate.look_every_days} days"
                                f" of evidence: next at {upcoming}", evidence)

    fractions = tuple(min(days / gate.max_days, 1.0) for days in (*previous_looks,
                                                                   evidence.days))
    boundary = boundaries(fractions, gate.alpha, gate.spending)[-1]
    error = evidence.standard_error if evidence.standard_error > 0 else float("nan")
    gain_z = (evidence.gain - gate.margin) / error if math.isfinite(error) else (
        math.copysign(math.inf, evidence.gain - gate.margin) if evidence.gain != gate.margin
        else 0.0)
    look = Look(evidence.days, fractions[-1], boundary, gain_z, evidence.sign_z)
    low, high = look.interval(evidence)
    judged = (f"{measured}; gain {evidence.gain:+.4f} [{low:+.4f}, {high:+.4f}] at look"
              f" {len(fractions)} ({evidence.days} of {gate.max_days} days: boundary z"
              f" {boundary:.2f}, alpha {gate.alpha} over all looks), margin {gate.margin}")
    if gain_z <= -boundary:
        return Decision("reject", f"not better by the margin: {judged}", evidence, look)
    if look.sign_z <= -boundary:  # whatever the pooled figure says
        return Decision("reject", f"worse on most days: {judged}", evidence, look)
    if gain_z >= boundary:
        reason = f"better beyond the margin: {judged}"
        return (Decision("approve", f"{reason}; {hold}", evidence, look) if hold
                else Decision("promote", reason, evidence, look))
    if fractions[-1] >= 1.0:
        return Decision("reject", f"no evidence either way after {evidence.days} days:"
                                  f" {judged}", evidence, look)
    return Decision("wait", f"inconclusive: {judged}; shadowing until {gate.max_days} days",
                    evidence, look)


def _why_held(gate: Gate, paused: bool) -> str | None:
    """Why a challenger that passes would wait for an operator instead of being promoted."""
    if paused:
        return "automatic promotion is paused: waiting for an operator"
    if gate.promotion == "manual":
        return "promotion is manual: waiting for an operator's approval"
    return None
