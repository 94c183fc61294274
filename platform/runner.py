"""The one runner: in-process runs of the platform's assets (a partition, a range as a
single-run backfill, the whole pipeline) and of an operator's review. Shared by the CLI,
`make bench`, `make chaos` and the tests; tools/ticks.py evaluates sensors and automation
on top of it, as the daemon would on its clock.

Runs go straight through the Dagster Python API into the given instance (so the UI shows
them), not through the daemon, whose backfill ticks would add tens of seconds.
"""

import os
import time
from datetime import date, timedelta

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
)

from assets import keys
from assets.monitor.indicators import SERVICE_LEVELS, SERVING_ARTIFACTS
from assets.partitions import RANGE_END_TAG, RANGE_START_TAG

DATA_GROUPS = (keys.RAW_GROUP, keys.STAGING_GROUP, keys.LABELS_GROUP, keys.FEATURES_GROUP)
# The next day, before it flies: its schedule alone has landed.
NEXT_DAY_KEYS = [keys.raw_key("schedule"), keys.STAGING["stg_schedule"], keys.FEATURES]

# The console shows progress (INFO: dbt's output, row counts, model versions), not DEBUG events.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


# In-process runs name their process, so a later command can tell a crashed run from a live one.
RUN_PID_TAG = "platform/pid"


def recover_crashed_runs(instance: DagsterInstance, log=print) -> list[str]:
    """Mark in-process runs whose process is gone (killed, machine lost) as failed, and give
    back the pool slots they held, so later runs do not wait for them forever.

    Runs launched by the daemon are watched by its run monitoring instead (dagster.yaml).
    """
    recovered = []
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED,
                                                      DagsterRunStatus.STARTING])):
        pid = run.tags.get(RUN_PID_TAG)
        if pid is None or _process_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"its process (pid {pid}) ended without finishing")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log(f"recovered run {run.run_id}: process {pid} is gone; marked failed, slots freed")
        recovered.append(run.run_id)
    return recovered


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def execute(defs: Definitions, instance: DagsterInstance, keys: list[AssetKey], *,
            partition_key: str | None = None, partition_range: tuple[str, str] | None = None,
            run_config: dict | None = None, tags: dict | None = None, log=print):
    """One in-process run of ``keys`` (their blocking checks included) for a partition or range,
    with the run ``tags`` a sensor's request gives it."""
    recover_crashed_runs(instance, log)
    tags = {**(tags or {}), RUN_PID_TAG: str(os.getpid())}
    if partition_range:
        tags.update({RANGE_START_TAG: partition_range[0],
                     RANGE_END_TAG: partition_range[1]})
    what = partition_key or ("..".join(partition_range) if partition_range else "unpartitioned")
    log(f"materializing {', '.join(k.to_user_string() for k in keys)} [{what}]")
    started = time.perf_counter()
    job = defs.get_repository_def().get_implicit_job_def_for_assets(keys)
    result = job.execute_in_process(
        instance=instance, asset_selection=keys, partition_key=partition_key, tags=tags,
        run_config={**QUIET_CONSOLE, **(run_config or {})}, raise_on_error=False,
    )
    log(f"  {'ok' if result.success else 'FAILED'} in {time.perf_counter() - started:.1f}s"
        f" (run {result.run_id})")
    return result


def review(defs: Definitions, instance: DagsterInstance, model: str, action: str,
           version: str | None, who: str, why: str, log=print):
    """An operator's decision (core/gate/review.py) as a run of the review_<model> job, as the UI's
    Launchpad would launch it: recorded in the instance and the decision log."""
    model_keys = keys.ModelKeys(model)
    config = {"action": action, "version": version or "", "who": who, "why": why}
    result = defs.resolve_job_def(model_keys.review_job).execute_in_process(
        instance=instance,
        run_config={**QUIET_CONSOLE, "ops": {model_keys.review_op: {"config": config}}},
        tags={RUN_PID_TAG: str(os.getpid())}, raise_on_error=False)
    if not result.success:
        failure = next(event for event in result.all_events if event.is_step_failure)
        log(f"refused: {failure.step_failure_data.error.message.strip()}")
    return result


def _keys_in_range(partitions_def, first: date, last: date) -> list[str]:
    # Time partition keys start with their first day (YYYY-MM-DD).
    return [key for key in partitions_def.get_partition_keys()
            if first <= date.fromisoformat(key[:10]) <= last]


def materialize_days(
    defs: Definitions,
    instance: DagsterInstance,
    first: date,
    last: date,
    groups: tuple[str, ...] = DATA_GROUPS,
    log=print,
) -> dict[AssetKey, bool]:
    """Materialize the assets of ``groups`` for days first..last.

    Unpartitioned assets go first in one run, then each partitioned set of assets in one run
    over its partition range (single-run backfill). Returns success per asset key.
    """
    graph = defs.get_repository_def().asset_graph
    by_partitions: dict[object, list[AssetKey]] = {}
    for key in graph.materializable_asset_keys:
        if graph.get(key).group_name in (groups or DATA_GROUPS):
            by_partitions.setdefault(graph.get(key).partitions_def, []).append(key)

    outcome: dict[AssetKey, bool] = {}
    for partitions_def, group_keys in sorted(by_partitions.items(),
                                             key=lambda kv: kv[0] is not None):
        partition_range = None
        if partitions_def is not None:
            keys_in_range = _keys_in_range(partitions_def, first, last)
            if not keys_in_range:
                continue
            partition_range = (keys_in_range[0], keys_in_range[-1])
        result = execute(defs, instance, group_keys, partition_range=partition_range, log=log)
        outcome.update({key: result.success for key in group_keys})
    return outcome


def model_names(defs: Definitions) -> list[str]:
    """The models the definitions hold (one per spec in model_specs/): ml/<model>/champion."""
    return sorted(key.path[1] for key in defs.resolve_asset_graph().materializable_asset_keys
                  if key.path[0] == keys.ML_GROUP and key.path[-1] == "champion")


def model_keys(defs: Definitions) -> list[keys.ModelKeys]:
    return [keys.ModelKeys(name) for name in model_names(defs)]


def training_run_config(models: list[keys.ModelKeys], train_days: int | None = None,
                        holdout_days: int | None = 14,
                        perfect_forecast_ablation: bool = False) -> dict:
    """The training window of each model's training set, for one training run, and whether
    each evaluation adds the perfect-forecast ablation."""
    ops = {}
    for model in models:
        ops[model.op_name(model.training_set)] = {"config": {
            "train_days": train_days, "holdout_days": holdout_days}}
        ops[model.op_name(model.evaluation)] = {"config": {
            "perfect_forecast_ablation": perfect_forecast_ablation}}
    return {"ops": ops}


def run_pipeline(defs: Definitions, instance: DagsterInstance, first: date, last: date,
                 cutoff: str, holdout_days: int | None, landing_dir, log=print
                 ) -> dict[AssetKey, bool]:
    """The whole graph, in dependency order: data, training at ``cutoff``, promotion, serving
    (the days first..last and, when its schedule has landed, the day after), realized
    performance, and a drift report as of ``last``."""
    outcome = materialize_days(defs, instance, first, last, DATA_GROUPS, log=log)
    next_day = (last + timedelta(days=1)).isoformat()
    scored = (first.isoformat(), last.isoformat())
    if (landing_dir / "schedule" / f"{next_day}.csv").exists():
        result = execute(defs, instance, NEXT_DAY_KEYS, partition_key=next_day, log=log)
        outcome.update({key: result.success for key in NEXT_DAY_KEYS})
        scored = (first.isoformat(), next_day)
    models = model_keys(defs)
    # Each stage carries every model: one run trains them all, one promotes, one serves.
    stages = [
        ([key for model in models for key in model.training],
         {"partition_key": cutoff, "run_config": training_run_config(models, None, holdout_days)}),
        ([model.champion for model in models], {}),
        # Served, and shadowed (by nobody yet): nothing is left missing for automation.
        ([key for model in models for key in (model.predictions, model.shadow_predictions)],
         {"partition_range": scored}),
        ([key for model in models for key in model.monitoring],
         {"partition_range": (first.isoformat(), last.isoformat())}),
        # The pipeline's own service levels, over the runs above: the artifacts probed first.
        ([SERVING_ARTIFACTS, SERVICE_LEVELS], {}),
    ]
    for stage_keys, options in stages:
        if not all(outcome.values()):
            log("stopping: an earlier stage failed")
            break
        result = execute(defs, instance, stage_keys, log=log, **options)
        outcome.update({key: result.success for key in stage_keys})
    return outcome
