"""The instance's parts, measured against each other (`make bench`; alone:
`python -m tools.instance_bench`): Dagster's stock parts, this project's speed-ups
(internals/, the default), each speed-up alone turned back to Dagster's part, and PostgreSQL.

  year's backfill          raw + staging + labels + features over 2013 (`platform/cli.py
                           materialize`, in-process runs: no run launcher), wall time
  landing -> predictions   a deployment with a champion under `dagster dev`, days landed one
                           at a time (tools/latency.daemon_latency_on): median and worst of
                           two days after the first one

Each configuration gets a fresh deployment; PostgreSQL is a throwaway local server
(instance/postgres.py), a database per deployment.
"""

import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from assets.partitions import FIRST_DAY, LAST_DAY
from core.ingest.upstream import deliver_days
from instance.config import InstanceChoices
from instance.config import install as install_instance_config
from instance.postgres import PASSWORD_ENV, LocalPostgres, PostgresAddress
from resources.settings import REPO_ROOT
from tools.measure import run_measured
from tools.sandbox import CODE_PYTHONPATH

STOCK = {"parts": InstanceChoices(event_log="stock", run_launcher="stock"),
         "dbt_runs": "subprocess"}
# name: (instance parts, dbt runs, on PostgreSQL)
BACKFILLS = {
    "stock SQLite (Dagster's parts, dbt subprocess)": STOCK,
    "stock event log alone": {"parts": InstanceChoices(event_log="stock")},
    "dbt subprocess alone": {"dbt_runs": "subprocess"},
    "batched SQLite (the default)": {},
    "PostgreSQL": {"postgres": True},
}
LATENCIES = {
    "stock SQLite (Dagster's parts, dbt subprocess)": STOCK,
    "default run launcher alone": {"parts": InstanceChoices(run_launcher="stock")},
    "batched SQLite (the default)": {},
    "PostgreSQL": {"postgres": True},
}

LATENCY = """
import json, os, sys
from pathlib import Path
from instance.config import InstanceChoices
from instance.postgres import PostgresAddress
from tools import latency
options = json.loads(sys.argv[2])
if options.get("parts"):
    options["parts"] = InstanceChoices(**options["parts"])
if options.get("postgres"):
    options["postgres"] = PostgresAddress(**options["postgres"])
print(json.dumps(latency.daemon_latency_on(Path(sys.argv[1]), dict(os.environ), **options)))
"""


def backfill(work: Path, env: dict, options: dict, postgres: PostgresAddress | None) -> dict:
    home = work / "dagster_home"
    choices = options.get("parts") or InstanceChoices()
    if postgres is not None:
        choices = InstanceChoices("postgres", choices.event_log, choices.run_launcher)
    install_instance_config(home, choices, postgres)
    env = {**env, "DAGSTER_HOME": str(home), "WAREHOUSE_PATH": str(work / "warehouse.duckdb"),
           "PLATFORM_DATA_DIR": str(work / "data"), "DBT_RUNS": options.get("dbt_runs", "in_process"),
           **({PASSWORD_ENV: postgres.password} if postgres else {})}
    measured = run_measured([sys.executable, "platform/cli.py", "materialize"], env)
    return {"wall_s": measured["wall_s"], "peak_rss_mb": measured["peak_rss_mb"]}


def latency(work: Path, env: dict, options: dict, postgres: PostgresAddress | None) -> dict:
    arguments = {**options, **({"postgres": asdict(postgres)} if postgres else {})}
    if "parts" in arguments:
        arguments["parts"] = asdict(arguments["parts"])
    measured = run_measured([sys.executable, "-c", LATENCY, str(work), json.dumps(arguments)], env)
    figures = json.loads(measured["output"].strip().splitlines()[-1])
    return {"median_s": figures["median_predictions_s"], "worst_s": figures["worst_predictions_s"],
            "first_after_start_s": figures["first_after_start"]["predictions"]}


def bench_instances(work: Path, env: dict, log=print) -> dict:
    """Both figures for every configuration: {"backfill": {name: ...}, "latency": {...}}."""
    work.mkdir(parents=True, exist_ok=True)
    # The server runs as the postgres user, who must reach its folder: one of its own in /tmp.
    server_folder = Path(tempfile.mkdtemp(prefix="pg-bench-"))
    server_folder.chmod(0o755)
    server = LocalPostgres(server_folder / "server")
    address = server.start()
    results: dict[str, dict] = {"backfill": {}, "latency": {}}
    try:
        for kind, configurations, measure in (("backfill", BACKFILLS, backfill),
                                              ("latency", LATENCIES, latency)):
            for number, (name, options) in enumerate(configurations.items()):
                log(f"  {kind}: {name} ...")
                options = dict(options)
                postgres = (address.with_database(f"{kind}_{number}")
                            if options.pop("postgres", False) else None)
                results[kind][name] = measure(work / f"{kind}-{number}", env, options, postgres)
    finally:
        server.remove()
        shutil.rmtree(server_folder, ignore_errors=True)
    return results


def report(results: dict) -> list[str]:
    default = "batched SQLite (the default)"
    backfills, latencies = results["backfill"], results["latency"]
    lines = ["the year's backfill (raw + staging + labels + features), by instance:"]
    for name, figures in backfills.items():
        ratio = figures["wall_s"] / backfills[default]["wall_s"]
        lines.append(f"  {name:<48} {figures['wall_s']:6.1f}s  {ratio:4.1f}x the default,"
                     f" peak RSS {figures['peak_rss_mb']} MB")
    lines.append("landing -> predictions under the real daemon (median, worst of two days):")
    for name, figures in latencies.items():
        lines.append(f"  {name:<48} {figures['median_s']:6.1f}s  worst {figures['worst_s']:.1f}s"
                     f" (first after start {figures['first_after_start_s']}s)")
    return lines


def landed_year(work: Path) -> dict:
    """The year delivered into ``work``; the environment the measured commands run in."""
    deliver_days(work / "landing", FIRST_DAY, LAST_DAY)
    return {**os.environ, "PYTHONPATH": CODE_PYTHONPATH, "LANDING_DIR": str(work / "landing")}


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="instance-bench-"))
    try:
        results = bench_instances(work, landed_year(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = REPO_ROOT / ".bench" / "instances.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(report(results)))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
