"""The Spark standalone cluster of spark/cluster.py: a master and two workers started from what
pyspark ships, whose executors run a job's tasks in processes of their own; a worker lost
mid-job, and started again."""

import json
import os
import shlex
import signal
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from spark.cluster import LocalSparkCluster, SparkUnavailable, java_options_from_env


@pytest.fixture(scope="module")
def cluster(spark_cluster):
    """The session's cluster (tests/conftest.py): these tests stop and restart its workers."""
    return spark_cluster


def session(cluster):
    from pyspark.sql import SparkSession

    # The driver names the executors' Python (pyspark reads PYSPARK_PYTHON, else python3).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master(cluster.master_url).appName("test_spark_cluster")
            .config("spark.executor.cores", "1").config("spark.executor.memory", "512m")
            .config("spark.driver.host", "127.0.0.1")
            # every core: an earlier driver's settings outlive it in this process (a dbt
            # build's spark.cores.max of 1 was seen here)
            .config("spark.cores.max", str(cluster.workers * cluster.cores))
            .getOrCreate())


def executors(spark) -> list[dict]:
    """The application's live executors, from the driver's monitoring REST API."""
    context = spark.sparkContext
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/executors"
    with urllib.request.urlopen(url, timeout=60) as response:  # a loaded driver answers late
        return [e for e in json.load(response) if e["id"] != "driver" and e["isActive"]]


def wait_for_executors(spark, cluster, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(executors(spark)) < count:
        if time.monotonic() > deadline:
            with urllib.request.urlopen(f"{cluster.master_ui}/json/", timeout=10) as response:
                running = [(app["name"], app["cores"]) for app in json.load(response)["activeapps"]]
            raise TimeoutError(f"{count} executors did not register in {timeout:.0f}s; the"
                               f" master's applications (name, cores): {running}")
        time.sleep(0.5)


def test_a_jobs_tasks_run_on_both_workers_executors(cluster):
    state = cluster.state()
    assert (state.alive_workers, state.cores) == (2, 2)
    assert state.url == cluster.master_url
    def ancestors(_) -> list[int]:
        """Run as a task (a local function: shipped by value, not imported by the executor):
        the process ids from the task's Python worker up to the machine's init."""
        import time as clock

        import psutil as ps

        clock.sleep(0.5)  # long enough that both executors take tasks
        return [process.pid for process in [ps.Process(), *ps.Process().parents()]]

    spark = session(cluster)
    try:
        wait_for_executors(spark, cluster, 2)
        chains = spark.sparkContext.parallelize(range(8), 8).map(ancestors).collect()
    finally:
        spark.stop()
    workers = {cluster.pid("worker-1"): "worker-1", cluster.pid("worker-2"): "worker-2"}
    # Every task ran in a process a worker started (its executor's Python), both workers took
    # some: none ran in this, the driver's, process.
    ran_under = [[workers[pid] for pid in chain if pid in workers] for chain in chains]
    assert all(len(names) == 1 for names in ran_under), ran_under
    assert {names[0] for names in ran_under} == {"worker-1", "worker-2"}


def test_the_catalog_master_and_workers_run_with_the_clusters_java_options(cluster):
    options = shlex.split(java_options_from_env())  # as the launch splits them
    assert options  # the tests' (tests/conftest.py), unless SPARK_JAVA_OPTIONS says otherwise
    for name in ("metastore", "master", "worker-1", "worker-2"):
        command = psutil.Process(cluster.pid(name)).cmdline()  # the JVM: spark-class execs it
        assert command[0].endswith("/java") and set(options) <= set(command), (name, command)


def kill_worker(cluster, name: str) -> None:
    """SIGKILL a worker and the executors it started, as a machine's crash would: the whole
    process group at once (one by one, an executor's Python workers can exit between the
    listing and their signal)."""
    cluster.stop_process(name, signal.SIGKILL)


def test_a_worker_lost_mid_job_costs_time_not_the_job_and_comes_back(cluster):
    """Spark runs a lost executor's tasks again on the executors left; the worker started
    again rejoins the master."""
    spark = session(cluster)
    try:
        wait_for_executors(spark, cluster, 2)
        killer = threading.Timer(6, kill_worker, (cluster, "worker-2"))
        killer.start()
        slow = spark.sparkContext.parallelize(range(6), 6).map(lambda x: time.sleep(4) or x)
        assert sorted(slow.collect()) == list(range(6))
        killer.join()
        assert cluster.pid("worker-2") is None
    finally:
        spark.stop()
    assert cluster.state().alive_workers == 1
    cluster.start()
    assert cluster.state().alive_workers == 2


def test_without_java_the_cluster_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("spark.cluster.JVM_DIR", tmp_path)
    cluster = LocalSparkCluster(tmp_path / "spark")
    with pytest.raises(SparkUnavailable, match="openjdk-17-jre-headless"):
        cluster.start(timeout=1)
    assert cluster.pid("master") is None
