"""Ticks: what the daemon does on its own clock, without the clock. A sensor or the
automation conditions evaluated once, in this process, against a real instance, and the runs
they request executed as the daemon would launch them (through platform/runner.py's execute,
via a sandbox.Platform). Shared by `make bench` and the tests; no wall-clock waits.
"""

import time
from datetime import date, timedelta
from typing import NamedTuple

from dagster import Definitions, build_sensor_context, evaluate_automation_conditions

from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse


def tick_new_data(defs: Definitions, instance, landing_dir, cursor, warehouse_path=None):
    """One evaluation of the new-data sensor: (run requests, new cursor)."""
    warehouse = DuckDBWarehouse(path=str(warehouse_path or landing_dir.parent / "none.duckdb"))
    landing = LandingZone(path=str(landing_dir), quarantine_path=str(landing_dir.parent / "quarantine"))
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"landing": landing, "warehouse": warehouse})
    result = defs.resolve_sensor_def("new_data")(context)
    return (result if isinstance(result, list) else []), context.cursor


def execute_requests(platform, requests) -> bool:
    """Run what a sensor requested, one run after another in its order (the daemon starts a
    landing's runs together; the serving one waits for the others: assets/ingest/landing_batch.py).
    Requests for consecutive days with the same assets, one after another, run as one run over
    the range, as a single-run backfill of those days would: the same partitions are written
    and recorded, without paying Dagster's per-run cost (~1 s in-process) per day. Returns
    whether every run succeeded."""
    runs: list[tuple[list, list[str], dict]] = []  # (selection, [first, last], tags)
    for request in requests:
        selection = sorted(request.asset_selection, key=str)
        span = request.partition_key_range
        first, last = (span.start, span.end) if span else (request.partition_key,) * 2
        if (runs and not span and runs[-1][0] == selection and first == last
                and _next_day(runs[-1][1][1]) == first):
            runs[-1][1][1] = last
        else:
            runs.append((selection, [first, last], dict(request.tags)))
    return all(platform.execute(selection, tags=tags, **_partition_options(tuple(span))).success
               for selection, span, tags in runs)


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
    return defs.resolve_sensor_def(name)(context), context.cursor


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
