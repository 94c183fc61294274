"""Benchmarks: `make bench` prints the figures and writes them to .bench/results.json.

Everything runs in a fresh temp directory (landing zone, warehouse, Dagster instance).

  full-year backfill   raw/*, staging/*, labels/*, features/* over 2013 through Dagster as
                       `make run` does it, in a subprocess: wall time and peak RSS of its
                       process tree; then the same again in that deployment
  bare DuckDB script   the same load and the same feature SQL (dbt's compiled SQL) with plain
                       duckdb, as a team's one-file script would: wall time and peak RSS
  full pipeline        `platform/cli.py run` (data, training at the 2013-09-29 cutoff, checks,
                       evaluation, promotion, day-ahead serving, realized performance): wall
                       time against the bare load plus the plain reference model
                       (tools/reference.py); the served champion's realized AUC on Oct 1-
                       Dec 31 beside that reference's AUC on the same split
  scoring              onnxruntime vs scikit-learn on the same holdout rows, median of 5
  landing latency      day D's files land (its outcomes, D + 1's schedule) -> D + 1 served, by
                       the loop's sensors and automation: in-process (tools/latency.py), 3
                       days; then under `dagster dev` (as `make ui`), 1 + 3 days landed one at
                       a time, landing -> raw, features, predictions read from the instance
                       (tools/daemon_loop.py), the first after the start apart.
  instance parts       the year's backfill and landing -> predictions on Dagster's stock parts,
                       the speed-ups of internals/ one by one, and PostgreSQL
                       (tools/instance_bench.py)
  on Spark             the full-year backfill and the full pipeline again with ENGINE=spark
                       on a standalone cluster of two workers started for it: wall time, peak
                       RSS of the run's process tree (the driver; the executors are the
                       workers'), seconds per step and dbt's slowest nodes
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil

from assets.partitions import FIRST_DAY, LAST_DAY
from core.ingest.contract import DAILY_DATASETS, read_csv_columns
from core.ingest.upstream import deliver_days, reference_table_path
from instance.config import install as install_instance_config
from resources.settings import REPO_ROOT
from spark.cluster import LocalSparkCluster
from tools import instance_bench
from tools.measure import run_measured
from tools.sandbox import CODE_PYTHONPATH


def bench_dagster_backfill(work: Path, env: dict) -> dict:
    home = work / "dagster_home"
    install_instance_config(home)
    env = {**env, "DAGSTER_HOME": str(home), "WAREHOUSE_PATH": str(work / "dagster.duckdb"),
           "PLATFORM_DATA_DIR": str(work / "backfill_data")}  # a new deployment's dbt target
    result = _materialize(env)  # the data groups, labels included
    result["steps_s"] = step_seconds(home)
    # The year again in that deployment: each file re-checked, its day replaced by the same
    # rows; dbt's parse partial now (its first in a new deployment is full: the warehouse's
    # path is part of dbt's profile).
    result["again"] = _materialize(env)
    return result


def _materialize(env: dict) -> dict:
    result = run_measured([sys.executable, "platform/cli.py", "materialize"], env)
    result["runs_s"] = [float(s) for s in re.findall(r"ok in ([\d.]+)s", result.pop("output"))]
    return result


def step_seconds(dagster_home: Path) -> dict[str, float]:
    """Seconds per step (raw_daily: the landing contract and load; dbt_daily: dbt build and its
    tests), summed over the instance's runs: where a run's time goes."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        return seconds_per_step(instance, instance.get_runs())


def seconds_per_step(instance, runs) -> dict[str, float]:
    """Seconds per step key, summed over ``runs``, and each run's time outside its steps
    (``run overhead``: starting it, resolving its partitions, recording its events)."""
    totals: dict[str, float] = {}
    for run in runs:
        steps = 0.0
        for step in instance.get_run_step_stats(run.run_id):
            if step.start_time and step.end_time:
                seconds = step.end_time - step.start_time
                steps += seconds
                totals[step.step_key] = totals.get(step.step_key, 0) + seconds
        record = instance.get_run_record_by_id(run.run_id)
        if record and record.start_time and record.end_time:
            totals["run overhead"] = (totals.get("run overhead", 0)
                                      + record.end_time - record.start_time - steps)
    return {key: round(seconds, 2) for key, seconds in sorted(totals.items())}


# dbt's models in build order, with what the bare script creates for each.
DBT_MODELS = [("staging", "stg_schedule", "view"), ("staging", "stg_outcomes", "view"),
              ("staging", "stg_weather", "view"), ("staging", "stg_planes", "view"),
              ("labels", "flight_labels", "table"), ("labels", "weather_at_departure", "table"),
              ("features", "flight_features", "table")]


def _compiled_sql(work: Path, database_file: Path) -> list[list[str]]:
    """dbt's compiled SQL of every model (the whole year), for the bare script to run."""
    target = work / "dbt_compile_target"
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--target-path",
         str(target)], cwd=REPO_ROOT / "dbt_project", check=True,
        env={**os.environ, "WAREHOUSE_PATH": str(database_file)})
    compiled = target / "compiled" / "flight_delays" / "models"
    return [[f"{schema}.{name}", kind, (compiled / schema / f"{name}.sql").read_text()]
            for schema, name, kind in DBT_MODELS]


def _bare_spec(work: Path, landing: Path, database: Path) -> dict:
    return {
        "database": str(database),
        "files": {name: sorted(str(p) for p in (landing / name).glob("*.csv"))
                  for name in DAILY_DATASETS},
        "columns": {name: read_csv_columns(dataset) for name, dataset in DAILY_DATASETS.items()},
        "planes": str(reference_table_path("planes")),
        "sql": _compiled_sql(work, database),
    }


def _reference(command: str, spec: dict, env: dict) -> dict:
    result = run_measured([sys.executable, "-m", "tools.reference", command, json.dumps(spec)],
                          env)
    return {**result, **json.loads(result.pop("output").strip().splitlines()[-1])}


def bench_bare_duckdb(work: Path, env: dict, landing: Path) -> dict:
    return _reference("load", _bare_spec(work, landing, work / "bare.duckdb"), env)


def served_performance(warehouse_path: str, first: str, last: str) -> dict:
    """Each model's served champion on first..last, from its predictions table and the labels:
    the figure users get, out of sample (the champion trained before ``first``)."""
    import duckdb

    from core.gate import registry
    from core.monitor.performance import gate_metric, served_out_of_sample
    from core.train.model_spec import load_specs
    from resources.settings import Settings

    settings, figures = Settings.from_env(), {}
    for spec in load_specs(settings.model_specs_dir, settings.dbt_manifest_path):
        with duckdb.connect(warehouse_path, read_only=True) as con:
            champion = registry.current_champion(con, spec.name)
            served = served_out_of_sample(con, spec, champion.version,
                                          date.fromisoformat(first), date.fromisoformat(last))
        value = gate_metric(spec, served)
        figures[spec.name] = {"version": champion.version, "train_end": str(champion.train_end),
                              spec.gate.metric: round(value, 4), "flights": len(served),
                              "mean_label": round(float(served["label"].astype(float).mean()), 3)}
    return figures


def bench_spark(work: Path, env: dict) -> dict:
    """The year's backfill and the full pipeline with ENGINE=spark, each a new deployment on a
    cluster of its own (a catalog holds one deployment's databases)."""
    results = {}
    for name, command in (("full_year_backfill", "materialize"), ("full_pipeline", "run")):
        cluster = LocalSparkCluster(work / f"spark_{name}_cluster", workers=2, memory="2g")
        cluster.start()
        try:
            home, data = work / f"spark_{name}_home", work / f"spark_{name}_data"
            run_env = {**env, "ENGINE": "spark", "SPARK_MASTER": cluster.master_url,
                       "SPARK_METASTORE_URI": cluster.metastore_uri,
                       "DAGSTER_HOME": str(home), "PLATFORM_DATA_DIR": str(data),
                       "WAREHOUSE_PATH": str(data / "warehouse.duckdb")}
            subprocess.run([sys.executable, "platform/cli.py", "instance", str(home)],
                           env=run_env, check=True, stdout=subprocess.DEVNULL)
            result = run_measured([sys.executable, "platform/cli.py", command], run_env)
            result.pop("output")
            result["steps_s"] = step_seconds(home)
            result["slowest_dbt_nodes_s"] = slowest_dbt_nodes(data / "dbt_target")
            results[name] = result
        finally:
            cluster.stop()
    return results


def slowest_dbt_nodes(target_dir: Path, count: int = 4) -> dict[str, float]:
    """The last dbt build's slowest nodes (run_results.json), seconds each."""
    results = json.loads((target_dir / "run_results.json").read_text())["results"]
    slowest = sorted(results, key=lambda result: -result["execution_time"])[:count]
    return {result["unique_id"].split(".")[-1]: round(result["execution_time"], 1)
            for result in slowest}


def bench_full_pipeline(work: Path, env: dict, bare_load_s: float) -> dict:
    home = work / "pipeline_home"
    install_instance_config(home)
    warehouse = str(work / "pipeline.duckdb")
    env = {**env, "DAGSTER_HOME": str(home), "WAREHOUSE_PATH": warehouse,
           "PLATFORM_DATA_DIR": str(work / "pipeline_data")}
    dagster = run_measured([sys.executable, "platform/cli.py", "run"], env)
    dagster.pop("output")
    dagster["served_oct_dec"] = served_performance(warehouse, "2013-10-01", "2013-12-31")
    # The plain script works on the platform's loaded raw tables: its time is the modelling.
    reference = _reference("model", {"database": warehouse}, env)
    return {"dagster": dagster, "reference_script": reference, "goal_auc": 0.69, "goal_ratio": 3,
            "ratio": round(dagster["wall_s"] / (bare_load_s + reference["wall_s"]), 2),
            "warehouse": warehouse, "models": str(work / "pipeline_data")}


def bench_scoring(warehouse_path: str, data_dir: str, repeats: int = 5) -> dict:
    """onnxruntime vs scikit-learn on the champion's holdout rows, the session built once."""
    import duckdb

    from core.gate import registry
    from core.train.modeling import onnx_predict, sklearn_predict
    from core.transform.feature_table import read_features
    from resources.model_store import ModelStore

    with duckdb.connect(warehouse_path, read_only=True) as con:
        champion = registry.current_champion(con, "not_on_time")
        rows = read_features(con, champion.holdout_start, champion.holdout_end)
    store = ModelStore(base_dir=data_dir)
    directory = Path(champion.artifact_dir)
    session, pipeline = store.onnx_session(directory), store.sklearn_pipeline(directory)
    inputs = store.inputs_of(directory)

    def median_seconds(score) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            score()
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    ort_s = median_seconds(lambda: onnx_predict(session, rows, inputs, "classification"))
    sklearn_s = median_seconds(lambda: sklearn_predict(pipeline, rows, inputs, "classification"))
    return {"rows": len(rows), "onnxruntime_s": round(ort_s, 4), "sklearn_s": round(sklearn_s, 4),
            "ort_threads": store.ort_threads, "speedup": round(sklearn_s / ort_s, 2),
            "goal_speedup": 1.0}


LATENCY = """
import json, os, sys
from pathlib import Path
from tools import latency
print(json.dumps(latency.landing_latency(Path(sys.argv[1]), dict(os.environ))))
"""


def bench_landing_latency(work: Path, env: dict) -> dict:
    measured = run_measured([sys.executable, "-c", LATENCY, str(work)], env)
    return {**json.loads(measured["output"].strip().splitlines()[-1]),
            "peak_rss_mb": measured["peak_rss_mb"]}


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        landing = work / "landing"
        deliver_days(landing, FIRST_DAY, LAST_DAY)
        env = {**os.environ, "LANDING_DIR": str(landing), "PYTHONPATH": CODE_PYTHONPATH}

        print("full-year raw+features backfill through Dagster ...", flush=True)
        dagster = bench_dagster_backfill(work, env)
        print("bare DuckDB script, same load and feature SQL ...", flush=True)
        bare = bench_bare_duckdb(work, env, landing)
        print("full pipeline through Dagster (platform/cli.py run) and a bare script ...",
              flush=True)
        pipeline = bench_full_pipeline(work, env, bare["wall_s"])
        print("scoring: onnxruntime vs scikit-learn ...", flush=True)
        scoring = bench_scoring(pipeline.pop("warehouse"), pipeline.pop("models") + "/models")
        print("landing -> predictions latency, in-process ticks ...", flush=True)
        latency = bench_landing_latency(work, env)
        print("the instance's parts: stock, the speed-ups, PostgreSQL ...", flush=True)
        instances = instance_bench.bench_instances(work / "instances", env)
        print("the year's backfill and the full pipeline on Spark (ENGINE=spark) ...", flush=True)
        spark = bench_spark(work, env)

        results = {
            "machine": {"cpus": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30)},
            "full_year_backfill": {
                **dagster,
                "goal_wall_s": 15,
                "goal_peak_rss_mb": 1536,
                "bare_duckdb": bare,
                "ratio_to_bare": round(dagster["wall_s"] / bare["wall_s"], 1),
            },
            "full_pipeline": pipeline,
            "scoring": scoring,
            "landing_to_prediction": latency,
            "instances": instances,
            "spark": spark,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    out = REPO_ROOT / ".bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    backfill = results["full_year_backfill"]
    print(f"\nfull-year backfill (Dagster): {backfill['wall_s']:.1f}s wall "
          f"(runs: {backfill['runs_s']}; steps: {backfill['steps_s']}), peak RSS"
          f" {backfill['peak_rss_mb']} MB "
          f"[goal <= {backfill['goal_wall_s']}s, <= {backfill['goal_peak_rss_mb']} MB]")
    print(f"the same again in that deployment: {backfill['again']['wall_s']:.1f}s wall"
          f" (runs: {backfill['again']['runs_s']})")
    print(f"bare DuckDB script:          {bare['wall_s']:.1f}s wall, peak RSS "
          f"{bare['peak_rss_mb']} MB, {bare['feature_rows']:,} feature rows")
    print(f"ratio Dagster / bare:        {backfill['ratio_to_bare']}x")
    dagster_run, reference = pipeline["dagster"], pipeline["reference_script"]
    served, regressor = (dagster_run["served_oct_dec"][name]
                         for name in ("not_on_time", "arrival_delay"))
    print(f"\nfull pipeline (Dagster run): {dagster_run['wall_s']:.1f}s wall, peak RSS "
          f"{dagster_run['peak_rss_mb']} MB; bare load + reference model "
          f"{bare['wall_s'] + reference['wall_s']:.1f}s: ratio {pipeline['ratio']}x"
          f" [goal <= {pipeline['goal_ratio']}x]")
    print(f"served day-ahead champion {served['version']} (trained to {served['train_end']}):"
          f" AUC {served['auc']:.4f} on {served['flights']:,} flights Oct 1-Dec 31"
          f" ({served['mean_label']:.1%} late) [goal >= {pipeline['goal_auc']}]")
    print(f"served day-ahead arrival_delay {regressor['version']}: MAE {regressor['mae']:.1f}"
          f" min on {regressor['flights']:,} arrived flights Oct 1-Dec 31")
    print(f"plain-script reference (same split, schedule + planes + congestion + history):"
          f" AUC {reference['auc_oct_dec']:.4f} on {reference['test_flights']:,} flights")
    print(f"\nscoring {scoring['rows']:,} rows: onnxruntime {scoring['onnxruntime_s']:.3f}s "
          f"({scoring['ort_threads']} threads), sklearn {scoring['sklearn_s']:.3f}s, "
          f"speedup {scoring['speedup']}x [goal >= {scoring['goal_speedup']}]")
    worst = max(latency["samples"], key=lambda sample: sample["latency_s"])
    print(f"\nlanding -> predictions (work, in-process): median {latency['median_latency_s']}s"
          f" over {len(latency['samples'])} days; slowest {worst['latency_s']}s = new-data tick"
          f" {worst['new_data_tick_s']}s + the landing's {worst['landing_runs']} runs"
          f" {worst['landing_runs_s']}s")
    daemon = latency["daemon"]
    print(f"landing -> predictions under the real daemon (dagster dev, land one day at a"
          f" time): median {daemon['median_predictions_s']}s, worst"
          f" {daemon['worst_predictions_s']}s [goal median <= {latency['goal_s']}s]")
    first = daemon["first_after_start"]
    for label, sample in [("first after start", first)] + [("then", s) for s in daemon["samples"]]:
        print(f"  {label}: {sample['landed']} landed: runs queued {sample['runs_queued']}s, the"
              f" serving run started {sample['serving_run_started']}s"
              f" ({sample['serving_worker']} worker), raw {sample['raw']}s, next day's features"
              f" {sample['features']}s, its predictions {sample['predictions']}s")
    print(f"  where it goes: sensor intervals {latency['sensor_intervals_s']} s (the daemon"
          f" looks every 5 s at most); a run goes to a worker that imported its libraries"
          f" before, then imports the definitions in {latency['warm_worker_import_s']}s"
          f" (warm) [target <= 2s], or to one started for it: {latency['run_launch_import_s']}s"
          f" (cold)")
    print(f"retrain sensor evaluation: {latency['retrain_tick_s']}s per tick (median; it reads"
          " the instance: the last training, the last labeled day, the newest drift report)")
    print()
    print("\n".join(instance_bench.report(instances)))
    print("\non Spark (ENGINE=spark, a standalone master and two 1-core workers on loopback)"
          " beside DuckDB:")
    for name, on_duckdb in (("full_year_backfill", backfill),
                            ("full_pipeline", pipeline["dagster"])):
        on_spark = spark[name]
        print(f"  {name.replace('_', ' ')}: spark {on_spark['wall_s']:.0f}s, duckdb"
              f" {on_duckdb['wall_s']:.0f}s ({on_spark['wall_s'] / on_duckdb['wall_s']:.1f}x);"
              f" peak RSS of the run's processes {on_spark['peak_rss_mb']} MB (duckdb"
              f" {on_duckdb['peak_rss_mb']} MB); steps {on_spark['steps_s']}; dbt's slowest"
              f" nodes {on_spark['slowest_dbt_nodes_s']}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
