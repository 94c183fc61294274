"""How the platform's cost grows with its history: `make bench-scale [SCALE="1 3 10"]`.

Each scale (years of history, core/ingest/history.py) is measured in a fresh deployment under
.bench/scale/<N>y, in a process of its own (the partitions follow HISTORY_YEARS at import):

  land            every day but the last four of the real year, whole
  backfill raw    the landing contract and load of every day (one single-run backfill)
  backfill dbt    staging, labels and features of every day (dbt build and its tests)
  train           both models on every labeled day before the last cutoff with two weeks of
                  holdout, with their checks and evaluations: rows, time, peak memory
  serve           both champions' predictions for the days after the cutoff
  monitor         realized performance and drift reports for those days
  landing         three days landed one at a time: landing -> next day served (the new-data tick
                  and the landing's runs), then the automation tick and the retrain tick
  UI              the webserver's GraphQL queries the UI makes: an asset's partition status,
                  the asset graph, a run's page (the raw backfill's, with its events)

Wall times and the peak RSS of this process and its children during each stage (what earlier
stages left allocated included); the table compares each figure with one year's and with the
goals the bench holds them to. `--table` prints the last run's table again.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

from resources.settings import REPO_ROOT

WORK = REPO_ROOT / ".bench" / "scale"
SCALES = (1, 3, 10)
LANDINGS = 3  # days landed one at a time after the backfill
# Goals (the ten-years issue): no stage grows faster than the data (at most 11x one year's at
# ten years), peak memory <= 4 GB, the UI's partition status <= 2 s, each sensor tick <= 5 s,
# a landing served within 20 % of one year's.
GOALS = {"growth": 11.0, "peak_rss_mb": 4096, "graphql_s": 2.0, "tick_s": 5.0,
         "landing_growth": 1.2}

PARTITION_STATUS = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      partitionKeysByDimension { name partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
      }
    }
  }
}"""
ASSET_GRAPH = """
query AssetGraphQuery {
  assetNodes { id assetKey { path } dependencyKeys { path } groupName isPartitioned
               partitionDefinition { description } }
}"""
RUN_PAGE = """
query RunPage($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run { id status assetSelection { path } tags { key value }
                 stats { ... on RunStatsSnapshot { stepsSucceeded endTime startTime } } }
  }
  logsForRun(runId: $runId, limit: 1000) {
    ... on EventConnection { events { __typename ... on MessageEvent { message timestamp } } }
  }
}"""


def _stage(figures: dict, name: str, action):
    """Run ``action`` as one stage: its wall time and the peak RSS of this process tree."""
    from tools.measure import PeakRSS

    print(f"  {name} ...", flush=True)
    started = time.perf_counter()
    with PeakRSS(os.getpid(), interval=0.1) as rss:
        result = action()
    figures[name] = {"wall_s": round(time.perf_counter() - started, 2),
                     "peak_rss_mb": round(rss.peak / 2**20)}
    print(f"  {name}: {figures[name]['wall_s']:.1f} s, {figures[name]['peak_rss_mb']} MB",
          flush=True)
    return result


def _succeeded(outcome, what: str):
    ok = outcome.success if hasattr(outcome, "success") else all(outcome.values())
    if not ok:
        raise RuntimeError(f"bench-scale: {what} failed")
    return outcome


def _graphql(url: str, query: str, variables: dict) -> tuple[float, dict]:
    """One query's time and its data."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", body,
                                     {"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.loads(response.read())
    seconds = time.perf_counter() - started
    if answer.get("errors") or not answer.get("data"):
        raise RuntimeError(f"bench-scale: GraphQL errors: {answer.get('errors', [])[:2]}")
    return seconds, answer["data"]


def _answered(name: str, data: dict) -> int:
    """How much a query's answer holds (partition keys, asset nodes, run events): a figure for
    a query that answered nothing would measure nothing."""
    if name.startswith("partition_status"):
        (dimension,) = data["assetNodeOrError"]["partitionKeysByDimension"]
        size = len(dimension["partitionKeys"])
    elif name == "asset_graph":
        size = len(data["assetNodes"])
    else:
        size = len(data["logsForRun"]["events"]) if data["runOrError"].get("id") else 0
    if not size:
        raise RuntimeError(f"bench-scale: the UI's {name} query answered nothing: {data}")
    return size


def _ui_figures(platform, raw_run_id: str) -> dict:
    """The UI's queries, each once cold (the webserver's first) and the median of three after."""
    from assets import keys
    from tools import daemon_loop

    server, url = daemon_loop.start_webserver(platform.environment(os.environ), timeout=300)
    queries = {
        "partition_status_raw": (PARTITION_STATUS, {"assetKey": {"path": list(
            keys.raw_key("schedule").path)}}),
        "partition_status_features": (PARTITION_STATUS, {"assetKey": {"path": list(
            keys.FEATURES.path)}}),
        "asset_graph": (ASSET_GRAPH, {}),
        "run_page": (RUN_PAGE, {"runId": raw_run_id}),
    }
    figures = {}
    try:
        for name, (query, variables) in queries.items():
            first, data = _graphql(url, query, variables)
            again = statistics.median(_graphql(url, query, variables)[0] for _ in range(3))
            figures[name] = {"first_s": round(first, 3), "warm_s": round(again, 3),
                             "answered": _answered(name, data)}
    finally:
        daemon_loop.stop_session(server)
    return figures


def measure(work: Path) -> dict:
    """One scale, in this process: HISTORY_YEARS is already set for it."""
    from dagster import DagsterRunStatus, RunsFilter, evaluate_automation_conditions

    import definitions
    import runner
    from assets import keys
    from assets.partitions import HISTORY, latest_cutoff
    from core.ingest.upstream import days_between, deliver_days, land_days
    from tools import ticks
    from tools.bench import seconds_per_step
    from tools.latency import RETRAIN_SENSOR
    from tools.sandbox import Platform

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    platform = Platform(work, definitions, runner)
    first, last = HISTORY.first_day, HISTORY.last_day - timedelta(days=LANDINGS + 1)
    cutoff = latest_cutoff(last, min_holdout_days=14)
    models = platform.models
    figures: dict = {"years": HISTORY.years, "days": len(days_between(first, last)),
                     "first_day": str(first), "cutoff": cutoff}
    landing = platform.settings.landing_dir

    _stage(figures, "land", lambda: land_days(landing, first, last))
    _stage(figures, "backfill raw", lambda: _succeeded(platform.materialize(
        first, last, (keys.RAW_GROUP,)), "the raw backfill"))
    _stage(figures, "backfill dbt", lambda: _succeeded(platform.materialize(
        first, last, (keys.STAGING_GROUP, keys.LABELS_GROUP, keys.FEATURES_GROUP)),
        "the dbt backfill"))
    figures["flights"] = platform.query("select count(*) from raw.schedule")[0][0]

    _stage(figures, "train", lambda: _succeeded(platform.train(cutoff, train_days=None),
                                                "training"))
    figures["training_rows"] = {
        model.name: platform.instance.get_latest_materialization_event(
            model.model).asset_materialization.metadata["training_rows"].value
        for model in models}
    _succeeded(platform.promote(), "promotion")
    served = (str(date.fromisoformat(cutoff)), str(last + timedelta(days=1)))
    _stage(figures, "serve", lambda: _succeeded(platform.execute(
        [model.predictions for model in models], partition_range=served), "serving"))
    _stage(figures, "monitor", lambda: _succeeded(platform.execute(
        [key for model in models for key in model.monitoring],
        partition_range=(served[0], str(last))), "monitoring"))

    # The loop's ticks from a running daemon's cursors, then days landed one at a time.
    instance, log = platform.instance, []
    _, new_data_cursor = ticks.tick_new_data(platform.defs, instance, landing, None,
                                             platform.settings.warehouse_path)
    automation_cursor, ran = None, True
    while ran:
        automation_cursor, ran = ticks.run_automation_tick(platform, automation_cursor, log)
    _, retrain_cursor = ticks.tick_sensor(platform.defs, RETRAIN_SENSOR, instance, None)
    samples = []
    for offset in range(1, LANDINGS + 1):
        day = last + timedelta(days=offset)
        deliver_days(landing, day, day)
        runs_before = {run.run_id for run in instance.get_runs()}
        started = time.perf_counter()
        requests, new_data_cursor = ticks.tick_new_data(platform.defs, instance, landing,
                                                        new_data_cursor)
        sensed = time.perf_counter()
        if not ticks.execute_requests(platform, requests):
            raise RuntimeError(f"bench-scale: the landing of {day} failed")
        served_at = time.perf_counter()
        landing_runs = [run for run in instance.get_runs() if run.run_id not in runs_before]
        automation_cursor, _ = ticks.run_automation_tick(platform, automation_cursor, log)
        automation_s = time.perf_counter() - served_at
        retrain_started = time.perf_counter()
        _, retrain_cursor = ticks.tick_sensor(platform.defs, RETRAIN_SENSOR, instance,
                                              retrain_cursor)
        samples.append({"day": str(day), "landing_s": round(served_at - started, 2),
                        "new_data_tick_s": round(sensed - started, 2),
                        # where the landing's time goes (the automation's runs not counted)
                        "landing_steps_s": seconds_per_step(instance, landing_runs),
                        "automation_tick_and_runs_s": round(automation_s, 2),
                        "retrain_tick_s": round(time.perf_counter() - retrain_started, 2)})
    if not all(run.success for run in log):
        raise RuntimeError(f"bench-scale: an automation run failed: {log}")
    started = time.perf_counter()
    evaluate_automation_conditions(platform.defs, instance, cursor=automation_cursor)
    figures["automation_tick_s"] = round(time.perf_counter() - started, 2)
    figures["landings"] = samples
    for name in ("landing_s", "new_data_tick_s", "retrain_tick_s"):
        figures[name] = statistics.median(sample[name] for sample in samples)

    raw_runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS], tags={
        "dagster/asset_partition_range_start": str(first)}), limit=1)
    figures["ui"] = _ui_figures(platform, raw_runs[-1].run_id)
    return figures


# The stages, each a row of time and peak memory: (label, its key in one scale's figures).
STAGES = [
    ("land (files)", "land"),
    ("backfill raw", "backfill raw"),
    ("backfill dbt (staging, labels, features)", "backfill dbt"),
    ("train both models on every labeled day", "train"),
    ("serve the days after the cutoff", "serve"),
    ("realized performance + drift reports", "monitor"),
]
# The other rows: (label, how to read it from one scale's figures, the goal's kind).
ROWS = [
    ("a landed day served, s (median of 3)", lambda f: f["landing_s"], "landing"),
    ("new-data sensor tick, s", lambda f: f["new_data_tick_s"], "tick"),
    ("automation tick, s", lambda f: f["automation_tick_s"], "tick"),
    ("retrain sensor tick, s", lambda f: f["retrain_tick_s"], "tick"),
    ("UI: partition status of raw/schedule, s", lambda f: f["ui"]["partition_status_raw"]["warm_s"],
     "graphql"),
    ("UI: partition status of features, s", lambda f: f["ui"]["partition_status_features"]["warm_s"],
     "graphql"),
    ("UI: asset graph, s", lambda f: f["ui"]["asset_graph"]["warm_s"], "graphql"),
    ("UI: a backfill run's page, s", lambda f: f["ui"]["run_page"]["warm_s"], "graphql"),
    ("peak memory, MB (any stage)", lambda f: max(f[key]["peak_rss_mb"] for _, key in STAGES),
     "memory"),
]


def verdict(kind: str, value: float, one_year: float, years: int) -> str:
    growth = value / one_year if one_year else float("inf")
    goals = {
        "growth": (growth <= GOALS["growth"] * years / 10, f"<= {GOALS['growth'] * years / 10:g}x"),
        "landing": (growth <= GOALS["landing_growth"], f"<= {GOALS['landing_growth']:g}x"),
        "tick": (value <= GOALS["tick_s"], f"<= {GOALS['tick_s']:g} s"),
        "graphql": (value <= GOALS["graphql_s"], f"<= {GOALS['graphql_s']:g} s"),
        "memory": (value <= GOALS["peak_rss_mb"], f"<= {GOALS['peak_rss_mb']} MB"),
    }
    met, goal = goals[kind]
    return f"{'met' if met else 'MISSED'} ({goal})"


def table(results: dict[int, dict]) -> str:
    scales = sorted(results)
    base = results[scales[0]]
    header = ["what"] + [f"{n} y" for n in scales] + [f"{scales[-1]} y / {scales[0]} y", "goal"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines.append("| days, flights | " + " | ".join(
        f"{results[n]['days']:,}, {results[n]['flights']:,}" for n in scales) + " | "
        f"{results[scales[-1]]['flights'] / base['flights']:.1f}x | |")
    for label, key in STAGES:
        seconds = [results[n][key]["wall_s"] for n in scales]
        cells = [f"{results[n][key]['wall_s']:,.3g} s, {results[n][key]['peak_rss_mb'] / 1024:.1f} GB"
                 for n in scales]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {seconds[-1] / seconds[0]:.1f}x"
                     f" | {verdict('growth', seconds[-1], seconds[0], scales[-1])} |")
    for label, read, kind in ROWS:
        values = [read(results[n]) for n in scales]
        growth = values[-1] / values[0] if values[0] else float("inf")
        lines.append(f"| {label} | " + " | ".join(f"{v:,.3g}" if v < 100 else f"{v:,.0f}"
                                                  for v in values)
                     + f" | {growth:.1f}x | {verdict(kind, values[-1], values[0], scales[-1])} |")
    return "\n".join(lines)


def landing_steps(results: dict[int, dict]) -> str:
    """Where a landed day's time goes at each scale: each step's median over the landings."""
    scales = sorted(results)
    medians = {n: {} for n in scales}
    for n in scales:
        landings = [sample.get("landing_steps_s", {}) for sample in results[n]["landings"]]
        for step in {key for landing in landings for key in landing}:
            medians[n][step] = statistics.median(landing.get(step, 0) for landing in landings)
    steps = sorted({step for n in scales for step in medians[n]},
                   key=lambda step: -medians[scales[-1]].get(step, 0))
    lines = ["| a landed day's step, s (median) | " + " | ".join(f"{n} y" for n in scales) + " |",
             "|" + " --- |" * (len(scales) + 1)]
    lines += [f"| {step} | " + " | ".join(f"{medians[n].get(step, 0):.2f}" for n in scales) + " |"
              for step in steps]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=list(SCALES))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a scale, in this process
    parser.add_argument("--table", action="store_true", help="print the last run's table again")
    args = parser.parse_args(argv)
    if args.table:
        saved = json.loads((WORK.parent / "scale.json").read_text())
        saved = {int(years): figures for years, figures in saved.items()}
        print(table(saved))
        if all("landing_steps_s" in sample for f in saved.values() for sample in f["landings"]):
            print("\n" + landing_steps(saved))
        return 0
    if args.one:
        result = measure(WORK / f"{args.one}y")
        (WORK / f"{args.one}y.json").write_text(json.dumps(result, indent=1))
        return 0
    results = {}
    for years in args.scales:
        print(f"{years} year(s) of history:", flush=True)
        env = {**os.environ, "HISTORY_YEARS": str(years)}
        subprocess.run([sys.executable, "-m", "tools.bench_scale", "--one", str(years)],
                       cwd=REPO_ROOT, env=env, check=True)
        results[years] = json.loads((WORK / f"{years}y.json").read_text())
        shutil.rmtree(WORK / f"{years}y", ignore_errors=True)  # gigabytes at ten years
    (WORK.parent / "scale.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    print("\n" + landing_steps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
