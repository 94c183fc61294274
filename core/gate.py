"""The promotion gate, free of Dagster: promote the newest model of a spec only when it passed
its blocking checks and beats the champion on days that neither trained on, by the spec's
margin in the spec's metric (higher AUC, lower MAE, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.model_spec import Gate, metric_label

REQUIRED_CHECKS = ("onnx_matches_sklearn", "quality_floor")


@dataclass(frozen=True)
class Decision:
    action: str  # promote | keep
    reason: str
    comparison_window: tuple[date, date] | None = None
    challenger_value: float | None = None
    champion_value: float | None = None


def failed_checks(model) -> list[str]:
    return [name for name in REQUIRED_CHECKS if not model.checks.get(name, {}).get("passed")]


def comparison_window(challenger, champion) -> tuple[date, date] | None:
    """Labeled days neither model trained on: the challenger's holdout, after both cutoffs."""
    start = max(challenger.holdout_start, champion.holdout_start)
    return (start, challenger.holdout_end) if start <= challenger.holdout_end else None


def decide(challenger, champion, score, gate: Gate) -> Decision:
    """``score(model, window) -> the gate's metric``; returns what to do and why."""
    if challenger is None:
        return Decision("keep", "no model has been trained yet")
    failed = failed_checks(challenger)
    if failed:
        return Decision("keep", f"challenger {challenger.version} did not pass {failed}")
    if champion is None:
        return Decision("promote", f"no champion yet; {challenger.version} passed its checks")
    if champion.version == challenger.version:
        return Decision("keep", f"{challenger.version} is already the champion")
    window = comparison_window(challenger, champion)
    if window is None:
        return Decision("keep", "no labeled days that neither model trained on")
    challenger_value, champion_value = score(challenger, window), score(champion, window)
    promote = gate.beats(challenger_value, champion_value)
    verdict = "beats" if promote else "does not beat"
    sign = "+" if gate.higher_is_better else "-"
    metric = metric_label(gate.metric)
    return Decision(
        "promote" if promote else "keep",
        f"challenger {metric} {challenger_value:.4f} {verdict} champion {metric}"
        f" {champion_value:.4f} {sign} margin {gate.margin} on {window[0]}..{window[1]}",
        window, challenger_value, champion_value,
    )
