"""Who serves, as the sensors see it. The registry decides (core/gate/registry.py: exactly one
champion per model); every change of champion, by the gate or by an operator, is published as
a materialization of ml/<model>/champion carrying the version, and the sensors read that (they
never wait on the warehouse). Published and read here only.
"""

from __future__ import annotations

from dagster import AssetMaterialization, DagsterInstance

from assets.keys import ModelKeys
from assets.records import latest_metadata

CHAMPION_VERSION = "champion_version"  # the metadata entry that names the champion


def champion_changed(keys: ModelKeys, version: str, previous: str | None, decision: str,
                     reason: str) -> AssetMaterialization:
    """The event of an operator's change of champion (the gate's own materialization carries
    the same entries)."""
    return AssetMaterialization(keys.champion, metadata={
        CHAMPION_VERSION: version, "decision": decision, "reason": reason,
        "previous_champion": previous or ""})


def champion_version(instance: DagsterInstance, keys: ModelKeys) -> str | None:
    """The version the model's last published change left serving (None: no champion yet)."""
    return latest_metadata(instance, keys.champion).get(CHAMPION_VERSION) or None
