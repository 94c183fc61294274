"""Whether a model should retrain, from what the Dagster instance knows (the decision itself is
core/monitor/retrain_policy.py): the last training (its cutoff, recipe and the labels it could
see), whether the gate is still judging it, the last labeled day, and what the latest drift
report measured. Read from the instance, not the warehouse: sensors must not wait on the
warehouse's one writer. The drift report explains this decision; sensors/retrain.py acts on it.
"""

from __future__ import annotations

from datetime import date

from dagster import DagsterInstance

from assets.keys import ModelKeys, raw_key
from assets.partitions import latest_cutoff
from assets.records import latest_record
from core.monitor.drift import Trigger
from core.monitor.retrain_policy import LastTraining, RetrainDecision, decide_retrain
from core.train.model_spec import ModelSpec
from core.train.versions import spec_recipe_id

# What a drift report measured, as it stores it (assets/monitor/drift_report.py).
MEASURED_TRIGGERS = "measured_triggers"


def measured_triggers(instance: DagsterInstance, keys: ModelKeys) -> tuple[Trigger, ...]:
    """The decay and feature-drift triggers of the latest drift report (none before one)."""
    record = latest_record(instance, keys.drift_report)
    if record is None:
        return ()
    stored = record.asset_materialization.metadata.get(MEASURED_TRIGGERS)
    return tuple(Trigger(t["trigger"], t["fired"], t["acts"], t["reason"])
                 for t in (stored.value if stored else []))


def last_labeled_day(instance: DagsterInstance) -> date | None:
    """The last day whose outcomes (the labels' source) have landed."""
    days = instance.get_materialized_partitions(raw_key("outcomes"))
    return max(date.fromisoformat(day) for day in days) if days else None


def last_training(instance: DagsterInstance, keys: ModelKeys) -> LastTraining | None:
    """The model's latest materialization: whatever cutoff it trained, it is what was last
    learned."""
    record = latest_record(instance, keys.model)
    if record is None:
        return None
    metadata = record.asset_materialization.metadata
    cutoff = date.fromisoformat(record.partition_key)
    recipe = metadata.get("recipe")
    labeled_through = metadata.get("labeled_through")
    return LastTraining(cutoff, recipe.value if recipe else None,
                        date.fromisoformat(labeled_through.value) if labeled_through else cutoff)


def judging(instance: DagsterInstance, keys: ModelKeys) -> str | None:
    """The gate's words on the last trained model while its decision is pending: the model's
    newest materialization came after the gate's, or the gate said wait (None: decided)."""
    trained = latest_record(instance, keys.model)
    if trained is None:
        return None
    version = trained.asset_materialization.metadata["version"].value
    gated = latest_record(instance, keys.champion)
    if gated is None or gated.storage_id < trained.storage_id:
        return f"{version}: not judged yet"
    metadata = gated.asset_materialization.metadata
    challenger, decision = metadata.get("challenger_version"), metadata.get("decision")
    if challenger and challenger.value == version and decision and decision.value == "wait":
        return f"{version}: {metadata['reason'].value}"
    return None


def retrain_decision(instance: DagsterInstance, spec: ModelSpec,
                     measured: tuple[Trigger, ...] = ()) -> tuple[RetrainDecision, str]:
    """Whether ``spec``'s model should retrain now, and the recipe it would train with."""
    keys = ModelKeys(spec.name)
    last_labeled = last_labeled_day(instance)
    newest = latest_cutoff(last_labeled) if last_labeled else None
    recipe = spec_recipe_id(spec)
    decision = decide_retrain(last_training(instance, keys), last_labeled,
                              date.fromisoformat(newest) if newest else None, recipe,
                              spec.min_new_label_days, measured, judging(instance, keys))
    return decision, recipe
