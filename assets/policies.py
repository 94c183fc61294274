"""How assets keep themselves up to date and run: automation conditions, freshness policies,
the warehouse's pool and retries, the daily partitioning.

Kept in one place so that every asset of a kind gets the same rules.
"""

from datetime import timedelta

from dagster import (
    AssetKey,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    BackfillPolicy,
    Definitions,
    FreshnessPolicy,
)

from assets.keys import CHAMPION
from assets.partitions import daily_partitions
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY


def when_parents_change(ignore: tuple[AssetKey, ...] = ()) -> AutomationCondition:
    """Materialize a partition when one of its parents' partitions was updated (or is about to
    be), when it goes missing, or when its own code version changed (an analyst's SQL edit).

    Like AutomationCondition.eager(), but for every partition, not only the latest time window:
    the embedded year is replayed day by day, so new data lands in old partitions.
    """
    parents_updated = AutomationCondition.any_deps_updated()
    if ignore:
        parents_updated = parents_updated.ignore(AssetSelection.assets(*ignore))
    return (
        (
            AutomationCondition.newly_missing()
            | parents_updated
            | AutomationCondition.code_version_changed()
        ).since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("when_parents_change")


def when_evidence_grows() -> AutomationCondition:
    """Run again when a parent was updated (labels matured, a model was evaluated), once the
    asset exists (a first materialization is an explicit training's job). For an unpartitioned
    asset over all of its parents' partitions, where "every parent partition present" would
    never hold while the year is still landing."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("when_evidence_grows")


# Daily data lands once a day: stale after a day and a bit, a warning an hour before.
DAILY_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)
# Models retrain weekly (schedule) or on drift: the champion should be re-decided weekly.
WEEKLY_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(days=8), warn_window=timedelta(days=7)
)


# Every step that reads or writes the warehouse: one writer at a time (its pool), transient
# trouble retried with backoff. Op settings Dagster takes only where a step is declared.
WAREHOUSE_STEP = {"pool": WAREHOUSE_POOL, "retry_policy": WAREHOUSE_RETRY}
# Every daily asset: daily partitions, a backfilled range built in one run.
DAILY = {"partitions_def": daily_partitions, "backfill_policy": BackfillPolicy.single_run()}


def freshness_of(spec: AssetSpec) -> FreshnessPolicy | None:
    """How fresh an asset is expected to be: daily data daily, the champion weekly."""
    if spec.partitions_def == daily_partitions:
        return DAILY_FRESHNESS
    if spec.key.path[-1] == CHAMPION:
        return WEEKLY_FRESHNESS
    return spec.freshness_policy


def with_freshness(defs: Definitions) -> Definitions:
    """Every asset of ``defs`` with its freshness policy, set here once for all of them."""
    return defs.map_asset_specs(
        func=lambda spec: spec.replace_attributes(freshness_policy=freshness_of(spec)))
