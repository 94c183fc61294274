"""Benchmarks: `make bench` prints the figures and writes them to .bench/results.json.

Everything runs in a fresh temp directory (landing zone, warehouse, Dagster instance), so the
figures do not depend on what `make run` left behind.

  full-year backfill   raw/* + staging/* + features/* over 2013 through Dagster, as `make run`
                       does it (one single-run backfill per partitions definition), in a
                       subprocess: wall time and peak RSS of its process tree (dbt included)
  bare DuckDB script   the same load and the same feature SQL (dbt's compiled SQL) with plain
                       duckdb, as a team's one-file script would: wall time and peak RSS
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from assets.partitions import FIRST_DAY, LAST_DAY  # noqa: E402
from resources.landing import DAILY_DATASETS, land_days  # noqa: E402


class PeakRSS:
    """Samples the summed RSS of a process and its children until stopped."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.peak = 0
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                total = 0
                for proc in tree:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_measured(command: list[str], env: dict) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    with PeakRSS(process.pid) as rss:
        output, _ = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-4000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(rss.peak / 2**20), "output": output}


def bench_dagster_backfill(work: Path, env: dict) -> dict:
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "platform" / "dagster.yaml", home / "dagster.yaml")
    env = {**env, "DAGSTER_HOME": str(home), "WAREHOUSE_PATH": str(work / "dagster.duckdb")}
    result = run_measured(
        [sys.executable, "platform/cli.py", "materialize", "--group", "raw", "--group",
         "staging", "--group", "features"],
        env,
    )
    run_times = [float(s) for s in re.findall(r"ok in ([\d.]+)s", result.pop("output"))]
    result["runs_s"] = run_times
    return result


def _compiled_feature_sql(work: Path, database_file: Path) -> dict[str, str]:
    """dbt's compiled SQL for the staging and feature models, for the bare script to run."""
    target = work / "dbt_compile_target"
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--target-path",
         str(target), "--vars", json.dumps({"warehouse_path": str(database_file)})],
        cwd=REPO_ROOT / "dbt_project", check=True,
    )
    compiled = target / "compiled" / "flight_delays" / "models"
    return {
        "staging.stg_flights": (compiled / "staging" / "stg_flights.sql").read_text(),
        "staging.stg_weather": (compiled / "staging" / "stg_weather.sql").read_text(),
        "features.flight_features": (compiled / "features" / "flight_features.sql").read_text(),
    }


BARE_SCRIPT = r'''
import json, sys, duckdb
spec = json.loads(sys.argv[1])
con = duckdb.connect(spec["database"])
for schema in ("raw", "staging", "features"):
    con.execute(f"create schema {schema}")
for name, files in spec["files"].items():
    columns = spec["columns"][name]
    con.execute(
        f"create table raw.{name} as select *, make_date(year, month, day) as partition_date"
        f" from read_csv(?, header = true, auto_detect = false, nullstr = 'NA', columns = {columns})",
        [files],
    )
for view in ("staging.stg_flights", "staging.stg_weather"):
    con.execute(f"create view {view} as {spec['sql'][view]}")
con.execute(f"create table features.flight_features as {spec['sql']['features.flight_features']}")
print(con.execute("select count(*) from features.flight_features").fetchone()[0])
'''


def bench_bare_duckdb(work: Path, env: dict, landing: Path) -> dict:
    database = work / "bare.duckdb"
    spec = {
        "database": str(database),
        "files": {
            name: sorted(str(p) for p in (landing / name).glob("*.csv")) for name in DAILY_DATASETS
        },
        "columns": {
            name: "{" + ", ".join(f"'{c}': '{t}'" for c, t in dataset.columns.items()) + "}"
            for name, dataset in DAILY_DATASETS.items()
        },
        "sql": _compiled_feature_sql(work, database),
    }
    result = run_measured([sys.executable, "-c", BARE_SCRIPT, json.dumps(spec)], env)
    result["feature_rows"] = int(result.pop("output").strip().splitlines()[-1])
    return result


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        landing = work / "landing"
        land_days(landing, FIRST_DAY, LAST_DAY)
        env = {**os.environ, "LANDING_DIR": str(landing), "PYTHONPATH": str(REPO_ROOT)}

        print("full-year raw+features backfill through Dagster ...", flush=True)
        dagster = bench_dagster_backfill(work, env)
        print("bare DuckDB script, same load and feature SQL ...", flush=True)
        bare = bench_bare_duckdb(work, env, landing)

        results = {
            "machine": {"cpus": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30)},
            "full_year_backfill": {
                **dagster,
                "goal_wall_s": 30,
                "goal_peak_rss_mb": 1536,
                "bare_duckdb": bare,
                "ratio_to_bare": round(dagster["wall_s"] / bare["wall_s"], 1),
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    out = REPO_ROOT / ".bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    backfill = results["full_year_backfill"]
    print(f"\nfull-year backfill (Dagster): {backfill['wall_s']:.1f}s wall "
          f"(runs: {backfill['runs_s']}), peak RSS {backfill['peak_rss_mb']} MB "
          f"[goal <= {backfill['goal_wall_s']}s, <= {backfill['goal_peak_rss_mb']} MB]")
    print(f"bare DuckDB script:          {bare['wall_s']:.1f}s wall, peak RSS "
          f"{bare['peak_rss_mb']} MB, {bare['feature_rows']:,} feature rows")
    print(f"ratio Dagster / bare:        {backfill['ratio_to_bare']}x")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
