"""When a model retrains, free of Dagster: only on new evidence.

A retrain is called for by
- new labels: at least ``min_new_label_days`` days of labels matured since the last training
  (the last labeled day it could see);
- a new recipe: the training code, the declared inputs, the estimator or its parameters
  changed (core/versions.recipe_id);
- decay of the serving version (core/drift.decay_trigger);
- feature drift, only where the spec says ``feature_drift: retrain`` (otherwise it warns).

New labels alone wait while the last challenger is still being judged (in shadow, the gate's
decision pending): each challenger gets its full evidence before a newer one replaces it.

It trains at the newest weekly cutoff that leaves a week of labels to hold out. The same cutoff
and recipe give the same training data and so the same model version: a request is named by
them, and asked again it launches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.monitor.drift import Trigger


@dataclass(frozen=True)
class LastTraining:
    cutoff: date
    recipe: str | None  # None: trained before recipes were recorded
    labeled_through: date  # the last labeled day when it trained


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reason: str
    cutoff: date | None
    triggers: tuple[Trigger, ...]

    def run_key(self, recipe: str) -> str:
        """The same cutoff and recipe train the same model: one run, however often asked."""
        return f"{self.cutoff}:{recipe}"


def decide_retrain(last: LastTraining | None, last_labeled: date | None,
                   newest_cutoff: date | None, recipe: str, min_new_label_days: int,
                   measured: tuple[Trigger, ...] = (),
                   judging: str | None = None) -> RetrainDecision:
    """``newest_cutoff``: the newest cutoff that leaves a week of labels to hold out;
    ``measured``: the drift report's decay and feature-drift triggers; ``judging``: what the
    gate said of the last trained challenger while its decision is pending (None: decided)."""
    if last is None:
        triggers = (Trigger("first model", True, "retrain", "no model has been trained yet"),
                    *measured)
    else:
        new_days = (last_labeled - last.labeled_through).days if last_labeled else 0
        triggers = (
            Trigger("new labels", new_days >= min_new_label_days, "retrain",
                    f"{new_days} labeled day(s) matured since the last training (labels"
                    f" through {last.labeled_through}, now through {last_labeled});"
                    f" {min_new_label_days} call for a retrain"),
            Trigger("recipe", recipe != last.recipe, "retrain",
                    "training code, inputs or parameters changed"
                    f" (recipe {last.recipe} -> {recipe})" if recipe != last.recipe
                    else f"same training code, inputs and parameters (recipe {recipe})"),
            *measured,
        )
    fired = [t for t in triggers if t.fired and t.acts == "retrain"]
    warnings = [t for t in triggers if t.fired and t.acts == "warn"]
    if not fired:
        reason = "no new evidence: " + "; ".join(t.reason for t in triggers)
        if warnings:
            reason = f"warning only ({warnings[0].reason}); {reason}"
        return RetrainDecision(False, reason, None, triggers)
    because = "; ".join(f"{t.name}: {t.reason}" for t in fired)
    if judging and all(t.name == "new labels" for t in fired):
        return RetrainDecision(False, f"{because}; but the last challenger is still being"
                                      f" judged ({judging}): a newer one waits for its"
                                      " decision", None, triggers)
    if newest_cutoff is None:
        return RetrainDecision(False, f"{because}; but no cutoff leaves a week of labels to"
                                      " hold out yet", None, triggers)
    same_recipe = last is not None and recipe == last.recipe
    if same_recipe and newest_cutoff <= last.cutoff:
        return RetrainDecision(False, f"{because}; but the newest cutoff {newest_cutoff} is"
                                      f" the last training's ({last.cutoff}): retraining would"
                                      " give the same model", None, triggers)
    return RetrainDecision(True, because, newest_cutoff, triggers)
