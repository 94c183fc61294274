"""The one runner: in-process runs of the platform's assets (a partition, a range as a
single-run backfill, the whole pipeline), and sensor and automation ticks evaluated and
executed in this process, as the daemon would on its clock. Shared by the CLI, `make bench`,
`make chaos` and the tests.

Runs go straight through the Dagster Python API into the given instance (so the UI shows
them), not through the daemon, whose backfill ticks would add tens of seconds.
"""

import os
import time
from datetime import date, timedelta
from typing import NamedTuple

from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    build_sensor_context,
    evaluate_automation_conditions,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets import keys
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse
from sensors.new_data import new_data_sensor

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
            run_config: dict | None = None, log=print):
    """One in-process run of ``keys`` (their blocking checks included) for a partition or range."""
    recover_crashed_runs(instance, log)
    tags = {RUN_PID_TAG: str(os.getpid())}
    if partition_range:
        tags.update({ASSET_PARTITION_RANGE_START_TAG: partition_range[0],
                     ASSET_PARTITION_RANGE_END_TAG: partition_range[1]})
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
    """An operator's decision (core/review.py) as a run of the review_<model> job, as the UI's
    Launchpad would launch it: recorded in the instance and the decision log."""
    model_keys = keys.ModelKeys(model)
    config = {"action": action, "version": version or "", "who": who, "why": why}
    result = defs.get_job_def(model_keys.review_job).execute_in_process(
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
                        holdout_days: int | None = 14) -> dict:
    """The training window of each model's training set, for one training run."""
    return {"ops": {model.op_name(model.training_set): {"config": {
        "train_days": train_days, "holdout_days": holdout_days}} for model in models}}


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
        ([model.predictions for model in models], {"partition_range": scored}),
        ([key for model in models for key in model.monitoring],
         {"partition_range": (first.isoformat(), last.isoformat())}),
    ]
    for stage_keys, options in stages:
        if not all(outcome.values()):
            log("stopping: an earlier stage failed")
            break
        result = execute(defs, instance, stage_keys, log=log, **options)
        outcome.update({key: result.success for key in stage_keys})
    return outcome




# --- ticks: what the daemon does on its own clock, without the clock -----------------------

def tick_new_data(instance, landing_dir, cursor, warehouse_path=None):
    """One evaluation of the new-data sensor: (run requests, new cursor)."""
    warehouse = DuckDBWarehouse(path=str(warehouse_path or landing_dir.parent / "none.duckdb"))
    landing = LandingZone(path=str(landing_dir), quarantine_path=str(landing_dir.parent / "quarantine"))
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"landing": landing, "warehouse": warehouse})
    result = new_data_sensor(context)
    return (result if isinstance(result, list) else []), context.cursor


def execute_requests(platform, requests) -> bool:
    """Run what a sensor requested. Requests for consecutive days with the same assets run as
    one run over the range, as a single-run backfill of those days would: the same partitions
    are written and recorded, without paying Dagster's per-run cost (~1 s in-process) per day.
    Runs go in day order. Returns whether every run succeeded."""
    days_by_keys: dict[tuple, set[str]] = {}
    for request in requests:
        selection = tuple(sorted(request.asset_selection, key=str))
        days_by_keys.setdefault(selection, set()).add(request.partition_key)
    runs = sorted(((partition_range, list(selection)) for selection, days in days_by_keys.items()
                   for partition_range in _ranges(days)), key=lambda run: run[0])
    return all(platform.execute(selection, **_partition_options(partition_range)).success
               for partition_range, selection in runs)


def _next_day(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _partition_options(partition_range: tuple[str, str] | None) -> dict:
    """platform.execute's partition arguments for a range of days (None: unpartitioned)."""
    if partition_range is None:
        return {}
    first, last = partition_range
    return {"partition_key": first} if first == last else {"partition_range": partition_range}


def tick_sensor(defs: Definitions, name: str, instance, cursor):
    """One evaluation of the sensor ``name`` (e.g. drift_not_on_time): (its result, new
    cursor)."""
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return defs.get_sensor_def(name)(context), context.cursor


class AutomationRun(NamedTuple):
    keys: list[str]
    partitions: list[str]
    success: bool
    seconds: float


def _ranges(partitions: set[str]) -> list[tuple[str, str]]:
    """Consecutive daily partition keys as (first, last) ranges."""
    ranges: list[list[str]] = []
    for key in sorted(partitions):
        if ranges and _next_day(ranges[-1][1]) == key:
            ranges[-1][1] = key
        else:
            ranges.append([key, key])
    return [(first, last) for first, last in ranges]


def _plan_runs(graph, requested: dict) -> list[tuple[tuple[str, str] | None, list]]:
    """Group requested (asset, partition range) pairs into ordered runs, as the daemon's
    backfill of a multi-partition tick does: parents run before their children; an asset joins
    its parent's run when they share the range (one run carries a chain), and otherwise a later
    run. Returns [(range or None, keys)] in execution order."""
    runs: list[tuple[tuple[str, str] | None, list]] = []
    where: dict = {}  # key -> indexes of the runs that carry it
    for key in graph.toposorted_asset_keys:
        for partition_range in requested.get(key, ()):
            parents = [(index, runs[index][0]) for parent in graph.get(key).parent_keys
                       for index in where.get(parent, ())]
            after_other = max((i for i, r in parents if r != partition_range), default=-1)
            not_before = max((i for i, r in parents if r == partition_range), default=-1)
            index = next((i for i, (r, _) in enumerate(runs)
                          if r == partition_range and i > after_other and i >= not_before), None)
            if index is None:
                runs.append((partition_range, []))
                index = len(runs) - 1
            runs[index][1].append(key)
            where.setdefault(key, []).append(index)
    return runs


def run_automation_tick(platform, cursor, log: list[AutomationRun]):
    """Evaluate the automation conditions and run what they request, as the daemon does with
    single-run backfill policies: each asset on exactly its requested partitions, one run per
    range of consecutive days, assets with the same range together, parents first.
    Returns (new cursor, whether anything ran)."""
    result = evaluate_automation_conditions(platform.defs, platform.instance, cursor=cursor)
    graph = platform.defs.resolve_asset_graph()
    requested: dict = {}
    for key in graph.materializable_asset_keys:
        partitions = result.get_requested_partitions(key)
        if partitions:
            requested[key] = ([None] if graph.get(key).partitions_def is None
                              else _ranges(partitions))
    runs = _plan_runs(graph, requested)
    for partition_range, run_keys in runs:
        started = time.perf_counter()
        outcome = platform.execute(run_keys, **_partition_options(partition_range))
        log.append(AutomationRun(sorted(k.to_user_string() for k in run_keys),
                                 list(partition_range or ()), outcome.success,
                                 time.perf_counter() - started))
    return result.cursor, bool(runs)
