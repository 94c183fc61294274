"""What the Dagster instance knows about a model's training, for the retrain decision
(core/retrain_policy.py): the last training (its cutoff, recipe and the labels it could see),
whether the gate is still judging it, and the last labeled day. Read from the instance, not the warehouse: sensors must not wait on
DuckDB's lock.
"""

from __future__ import annotations

from datetime import date

from dagster import AssetRecordsFilter, DagsterInstance

from assets.keys import ModelKeys, raw_key
from assets.partitions import latest_cutoff
from core.drift import Trigger
from core.model_spec import ModelSpec
from core.retrain_policy import LastTraining, RetrainDecision, decide_retrain
from core.versions import spec_recipe_id


def last_labeled_day(instance: DagsterInstance) -> date | None:
    """The last day whose outcomes (the labels' source) have landed."""
    days = instance.get_materialized_partitions(raw_key("outcomes"))
    return max(date.fromisoformat(day) for day in days) if days else None


def latest_metadata(instance: DagsterInstance, key, partition: str | None = None) -> dict:
    """The metadata values of ``key``'s (partition's) latest materialization ({} if none)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1).records
    if not records:
        return {}
    return {name: value.value for name, value in
            records[0].asset_materialization.metadata.items()}


def champion_version(instance: DagsterInstance, keys: ModelKeys) -> str | None:
    """The version the model's last gate decision left serving (None: no champion yet)."""
    return latest_metadata(instance, keys.champion).get("champion_version") or None


def last_training(instance: DagsterInstance, keys: ModelKeys) -> LastTraining | None:
    """The model's latest materialization: whatever cutoff it trained, it is what was last
    learned."""
    records = instance.fetch_materializations(keys.model, limit=1).records
    if not records:
        return None
    record = records[0]
    metadata = record.asset_materialization.metadata
    cutoff = date.fromisoformat(record.partition_key)
    recipe = metadata.get("recipe")
    labeled_through = metadata.get("labeled_through")
    return LastTraining(cutoff, recipe.value if recipe else None,
                        date.fromisoformat(labeled_through.value) if labeled_through else cutoff)


def judging(instance: DagsterInstance, keys: ModelKeys) -> str | None:
    """The gate's words on the last trained model while its decision is pending: the model's
    newest materialization came after the gate's, or the gate said wait (None: decided)."""
    trained = instance.fetch_materializations(keys.model, limit=1).records
    if not trained:
        return None
    version = trained[0].asset_materialization.metadata["version"].value
    gated = instance.fetch_materializations(keys.champion, limit=1).records
    if not gated or gated[0].storage_id < trained[0].storage_id:
        return f"{version}: not judged yet"
    metadata = gated[0].asset_materialization.metadata
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
