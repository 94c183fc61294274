"""tools/process_cpu.py: which kind each process is, and the report's sums."""

import os
import sys

from tools.process_cpu import Process, kind_of, read, report

JARS = "/repo/.venv/lib/python3.11/site-packages/pyspark/jars/*"


def test_each_process_is_told_by_its_command_line():
    seen = {
        "/repo/.venv/bin/python -u -c import sys;exec(eval(sys.stdin.readline()))": "pytest",
        "/repo/.venv/bin/python -m internals.run_worker --dbt-project dbt_project pandas": "run workers",
        "/repo/.venv/bin/python -m dagster api execute_run {}": "run workers",
        "/repo/.venv/bin/python -m dagster api grpc --lazy-load-user-code --socket /tmp/x": "code servers",
        "/repo/.venv/bin/python /repo/.venv/bin/dagster-daemon run -w workspace.yaml": "daemons",
        f"java -cp {JARS} org.apache.spark.executor.CoarseGrainedExecutorBackend": "Spark executors",
        f"java -cp {JARS} org.apache.spark.deploy.SparkSubmit --conf a=b pyspark-shell": "Spark drivers",
        f"java -cp {JARS} org.apache.spark.deploy.worker.Worker spark://127.0.0.1:7077": "Spark master",
        "/usr/lib/postgresql/15/bin/postgres -D /tmp/pg/data": "PostgreSQL",
        "postgres: checkpointer ": "PostgreSQL",
        "/repo/.venv/bin/python /repo/.venv/bin/dbt build --select tag:reference": "dbt",
        "/usr/lib/chromium/chromium --headless": "chromium",
        "bash /repo/.venv/lib/python3.11/site-packages/pyspark/bin/spark-class x": "Spark's Python",
        "sleep 3": "other",
    }
    wrong = {command: kind_of(command) for command, kind in seen.items()
             if not kind_of(command).startswith(kind)}
    assert wrong == {}


def test_the_report_sums_each_kind_and_every_process():
    processes = {("1", 10): Process("dagster api grpc", 9.0),
                 ("2", 11): Process("dagster api grpc", 3.0),
                 ("3", 12): Process("sleep 9", 4.0)}
    table = report(processes, wall_seconds=8, busy_seconds=17.5).splitlines()
    assert table[1].split()[:3] == ["12", "75%", "2"] and "code servers" in table[1]
    assert table[2].split()[:3] == ["4", "25%", "1"] and table[2].endswith("other")
    assert table[3].startswith("      16 CPU seconds in 8 s") and "2.00 cores" in table[3]
    assert table[4].startswith("      18 CPU seconds the machine") and ": 2 s in no" in table[4]
    assert table[5:] == ["the heaviest others:", "       4  sleep 9"]


def test_a_process_reads_as_its_start_cpu_and_command():
    start, cpu, command = read(str(os.getpid()))
    assert 0 < start and 0 < cpu and command == " ".join(sys.orig_argv)
    assert read("999999999") is None
