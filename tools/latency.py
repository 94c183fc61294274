"""Landing -> served latency for `make bench` (tools/bench.py runs it in a subprocess of its
own, so its logs stay out of the figures and its memory is measured apart): a deployment with
a champion, then days landed one at a time, first each sensor tick and run executed in-process
as the daemon would (platform/runner.py: the work alone), then under `dagster dev`, the real
webserver and daemon (tools/daemon_loop.py: what a user waits). Latencies are read from the
instance's records and the landing files' times.
"""

import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import definitions
import runner
from core.ingest.upstream import deliver_days
from resources.settings import REPO_ROOT
from tools import daemon_loop, ticks
from tools.sandbox import SMALL_WINDOW, Platform

# The definitions' import in a new process, after the modules named on the command line (a
# warm run worker's preload, internals/run_launcher.py) or alone (a cold worker).
DEFINITIONS_IMPORT = """
import importlib, sys, time
for module in sys.argv[1:]:
    importlib.import_module(module)
started = time.perf_counter()
import definitions
definitions.defs()
print(time.perf_counter() - started)
"""


RETRAIN_SENSOR = "retrain_on_evidence_not_on_time"


def daemon_latency(platform, env: dict, first: date, days: int) -> dict:
    """The same deployment under `dagster dev` (webserver and daemon, as `make ui` runs them):
    days landed one at a time with the land command, each milestone read from the instance.

    One day more than ``days`` is landed: the first one after the daemon started, whose runs
    find no idle run worker yet (internals/run_launcher.py starts them once runs ended),
    is reported apart; the median and worst are of the ``days`` after it, a running
    deployment's landings."""
    settings = platform.settings
    env = platform.environment(env)
    process = daemon_loop.start_dagster_dev(env, REPO_ROOT / ".bench" / "daemon_latency.log")
    samples = []
    try:
        daemon_loop.wait_until_idle(platform.instance, QUIET_SECONDS, timeout=900)
        for offset in range(days + 1):
            day = first + timedelta(days=offset)
            # Spread over the daemon's sensor loop, as landings at any moment would be.
            figures = daemon_loop.land_and_measure(
                platform.instance, env, settings, day, QUIET_SECONDS,
                phase=daemon_loop.spread_phase(offset, days + 1))
            samples.append({"landed": day.isoformat(), **figures})
    finally:
        daemon_loop.stop_session(process)
    if None in (sample["predictions"] for sample in samples):
        raise RuntimeError(f"daemon latency: a landed day was not served: {samples}")
    served = [sample["predictions"] for sample in samples[1:]]
    return {"first_after_start": samples[0], "samples": samples[1:],
            "median_predictions_s": statistics.median(served), "worst_predictions_s": max(served)}


LAST_BUILT = date(2013, 2, 12)


def deployment_with_a_champion(root: Path, **platform_options) -> Platform:
    """Jan 1 .. Feb 12 landed and built, a champion trained at Feb 3 and promoted."""
    platform = Platform(root, definitions, runner, SMALL_WINDOW, **platform_options)
    platform.land(date(2013, 1, 1), LAST_BUILT)
    platform.materialize(date(2013, 1, 1), LAST_BUILT)
    if not (platform.train("2013-02-03").success and platform.promote().success):
        raise RuntimeError("latency bench: training the first champion failed")
    return platform


def daemon_latency_on(root: Path, env: dict, days: int = 2, **platform_options) -> dict:
    """Landing -> predictions under `dagster dev` on a deployment made with
    ``platform_options`` (its instance's parts, its dbt runs, PostgreSQL)."""
    platform = deployment_with_a_champion(root, **platform_options)
    return daemon_latency(platform, env, LAST_BUILT + timedelta(days=1), days)


# Between landings, no run for this long (the automation sensor ticks every 30 s): each day
# lands on a quiet deployment, as days do.
QUIET_SECONDS = 40.0


def landing_latency(work: Path, env: dict, days: int = 3, daemon_days: int = 3) -> dict:
    """Runs in a subprocess of its own (bench_landing_latency), so its logs stay out of the
    figures and its memory is measured apart."""
    run_automation_tick, tick_new_data = ticks.run_automation_tick, ticks.tick_new_data

    def tick_retrain(instance, cursor):
        return ticks.tick_sensor(platform.defs, RETRAIN_SENSOR, instance, cursor)

    platform = deployment_with_a_champion(work / "latency")
    last = LAST_BUILT

    # A first tick of each, so that the measured ticks start from a cursor as a running
    # daemon's do (the days already there are not re-requested).
    instance, landing, log = platform.instance, platform.settings.landing_dir, []
    _, new_data_cursor = tick_new_data(platform.defs, instance, landing, None, platform.settings.warehouse_path)
    automation_cursor, ran = None, True
    while ran:
        automation_cursor, ran = run_automation_tick(platform, automation_cursor, log)
    _, retrain_cursor = tick_retrain(instance, None)

    samples = []
    for offset in range(1, days + 1):
        day = last + timedelta(days=offset)
        # Day D passes: its outcomes and weather land, and the schedule of D + 1, which is then
        # served day-ahead by the landing's own runs (sensors/new_data.py).
        deliver_days(landing, day, day)
        served_day = day + timedelta(days=1)
        started, landed_at = time.perf_counter(), time.time()
        requests, new_data_cursor = tick_new_data(platform.defs, instance, landing,
                                                  new_data_cursor)
        sensed = time.perf_counter()
        if not ticks.execute_requests(platform, requests):
            raise RuntimeError(f"latency bench: the landing of {day} failed")
        recorded_at = daemon_loop.recorded_at(instance, daemon_loop.MILESTONES["predictions"][0],
                                              served_day)
        if recorded_at is None:
            raise RuntimeError(f"latency bench: {served_day} was not served by its landing")
        # The run goes on after the predictions (shadow predictions): the latency ends when
        # the predictions' materialization is recorded, by the instance's clock.
        predicted = started + recorded_at - landed_at
        first_tick_run, ran = len(log), True
        while ran:  # what follows by automation (monitoring), outside the latency
            automation_cursor, ran = run_automation_tick(platform, automation_cursor, log)
        retrain_started = time.perf_counter()
        _, retrain_cursor = tick_retrain(instance, retrain_cursor)
        samples.append({
            "day": served_day.isoformat(), "latency_s": round(predicted - started, 2),
            "new_data_tick_s": round(sensed - started, 2),
            "landing_runs_s": round(predicted - sensed, 2),
            "landing_runs": len(requests),
            "automation_assets": sorted({key for run in log[first_tick_run:] for key in run.keys}),
            "retrain_tick_s": round(time.perf_counter() - retrain_started, 3),
        })
    if not all(run.success for run in log):
        raise RuntimeError(f"latency bench: a run failed: {log}")

    preload = platform.instance.run_launcher.preload  # the warm workers' (dagster.yaml)
    cold_s, warm_s = (definitions_import_s(env, modules) for modules in ([], preload))
    sensors = {name: platform.defs.resolve_sensor_def(name).minimum_interval_seconds
               for name in ("new_data", "automation", RETRAIN_SENSOR)}
    daemon = daemon_latency(platform, env, last + timedelta(days=days + 1), daemon_days)
    return {"samples": samples, "goal_s": 10, "daemon": daemon,
            "median_latency_s": statistics.median_low(s["latency_s"] for s in samples),
            "retrain_tick_s": statistics.median_low(s["retrain_tick_s"] for s in samples),
            "run_launch_import_s": round(cold_s, 2), "warm_worker_import_s": round(warm_s, 2),
            "sensor_intervals_s": sensors}


def definitions_import_s(env: dict, preload: list[str]) -> float:
    launch = subprocess.run([sys.executable, "-c", DEFINITIONS_IMPORT, *preload], env=env,
                            cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return float(launch.stdout.strip().splitlines()[-1])


