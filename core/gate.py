"""The promotion gate, free of Dagster: a challenger replaces the champion only with evidence.

Both models are scored on the same labeled days that neither trained on: the challenger's
holdout, then every shadow day whose labels have matured (at most the spec's ``max_days``).
The evidence is a paired day-block bootstrap interval of the improvement (core/uncertainty.py),
in the gate metric's units. The decision:

- promote: the whole interval lies above the spec's margin, on at least ``min_rows`` rows and
  ``min_days`` days (approve instead, to wait for an operator, when promotion is manual or
  paused). The gate looks every ``look_every_days`` days of evidence, not at every new day:
  each look is one more chance for noise to pass, and `make gate-bench` measures the whole
  sequence of looks;
- reject: the whole interval lies below the margin, or ``max_days`` passed without evidence
  either way; a challenger that failed a blocking check is rejected at once;
- wait: not enough rows or days yet, or the interval straddles the margin: the challenger
  keeps shadowing and the gate looks again as more labels land.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from core.model_spec import Gate, metric_label
from core.uncertainty import Interval, improvement_interval

REQUIRED_CHECKS = ("onnx_matches_sklearn", "quality_floor")


@dataclass(frozen=True)
class Evidence:
    """The two models on the same days: their metric, and the improvement with its interval."""

    first_day: date
    last_day: date
    challenger_value: float
    champion_value: float
    improvement: Interval

    def as_dict(self) -> dict:
        return {"days": [str(self.first_day), str(self.last_day)],
                "challenger_value": self.challenger_value,
                "champion_value": self.champion_value,
                "improvement": self.improvement.as_dict()}


@dataclass(frozen=True)
class Decision:
    action: str  # promote | approve | wait | reject | keep
    reason: str
    evidence: Evidence | None = None


def failed_checks(model) -> list[str]:
    return [name for name in REQUIRED_CHECKS if not model.checks.get(name, {}).get("passed")]


def first_comparison_day(challenger, champion) -> date:
    """The first day neither model trained on: both models' holdouts start at their cutoffs."""
    return max(challenger.holdout_start, champion.holdout_start)


def measure(gate: Gate, task: str, days, labels, challenger_predictions, champion_predictions,
            flag_above: float) -> Evidence:
    """Both models' metric on the same labeled rows, and the paired interval of the gain."""
    from core.evaluation import task_metrics

    values = [task_metrics(task, labels, predictions, flag_above)[gate.metric]
              for predictions in (challenger_predictions, champion_predictions)]
    improvement = improvement_interval(gate.metric, days, labels, challenger_predictions,
                                       champion_predictions, gate.confidence)
    days = pd.to_datetime(pd.Series(days)).dt.date
    return Evidence(days.min(), days.max(), *values, improvement)


def is_look(gate: Gate, days: int) -> bool:
    """Whether the gate decides on this many days of evidence (it waits in between)."""
    return days >= gate.max_days or days % gate.look_every_days == 0


def decide(challenger, champion, evidence: Evidence | None, gate: Gate,
           paused: bool = False) -> Decision:
    """What to do with ``challenger``, given the evidence gathered on the days neither model
    trained on (None: no such day has labels yet)."""
    if challenger is None:
        return Decision("keep", "no challenger is waiting: the champion stays")
    failed = failed_checks(challenger)
    if failed:
        return Decision("reject", f"challenger {challenger.version} did not pass {failed}")
    hold = _why_held(gate, paused)
    if champion is None:
        reason = f"no champion yet; {challenger.version} passed its blocking checks"
        return Decision("approve", f"{reason}; {hold}") if hold else Decision("promote", reason)
    if evidence is None:
        return Decision("wait", "no labeled day that neither model trained on yet")

    metric, interval = metric_label(gate.metric), evidence.improvement
    measured = (f"{metric} {evidence.challenger_value:.4f} vs champion"
                f" {evidence.champion_value:.4f} on {evidence.first_day}..{evidence.last_day};"
                f" improvement {interval.describe()}, margin {gate.margin}")
    if interval.rows < gate.min_rows or interval.days < gate.min_days:
        return Decision("wait", f"too little evidence yet: {measured}; the gate needs at least"
                                f" {gate.min_rows:,} rows and {gate.min_days} days", evidence)
    if not is_look(gate, interval.days):
        # Looking at every new day would give chance many more tries at a promotion.
        upcoming = (interval.days // gate.look_every_days + 1) * gate.look_every_days
        return Decision("wait", f"{measured}; the gate looks at every {gate.look_every_days}"
                                f" days: next at {min(upcoming, gate.max_days)}", evidence)
    if interval.low > gate.margin:
        reason = f"better beyond the margin: {measured}"
        return (Decision("approve", f"{reason}; {hold}", evidence) if hold
                else Decision("promote", reason, evidence))
    if interval.high < gate.margin:
        return Decision("reject", f"not better by the margin: {measured}", evidence)
    if interval.days >= gate.max_days:
        return Decision("reject", f"no evidence either way after {interval.days} days:"
                                  f" {measured}", evidence)
    return Decision("wait", f"the interval includes the margin: {measured}; shadowing until"
                            f" {gate.max_days} days", evidence)


def _why_held(gate: Gate, paused: bool) -> str | None:
    """Why a challenger that passes would wait for an operator instead of being promoted."""
    if paused:
        return "automatic promotion is paused: waiting for an operator"
    if gate.promotion == "manual":
        return "promotion is manual: waiting for an operator's approval"
    return None
