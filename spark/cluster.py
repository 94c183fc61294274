"""A Spark standalone cluster of the deployment's own, on loopback: one master and its workers,
each a Java process started from what pyspark ships (its ``bin/spark-class``), so that a job's
tasks really run on executors in other processes, as on a cluster of machines; and the catalog
every driver shares, a Hive metastore service (from the Hive jars pyspark ships, its tables in
an embedded Derby database), so that drivers in several processes build side by side.

The cluster lives in a folder the deployment owns (``<data dir>/spark``): each process's log and
pid, the ports it listens on, the workers' scratch space. `make spark-up` starts it (and waits
until every worker has registered), `make spark-down` stops it; its master URL is what the
``SPARK_MASTER`` setting takes, and a real cluster's URL works the same. Java 17 is Debian's
openjdk-17-jre-headless (`make` installs it where missing); nothing is downloaded at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from instance.local_servers import HOST, default_signals, free_port

JVM_DIR = Path("/usr/lib/jvm")  # where Debian installs Java
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
METASTORE_CLASS = "org.apache.hadoop.hive.metastore.HiveMetaStore"
# The JVM options of every Spark process: SPARK_JAVA_OPTIONS, else the JVM's own defaults.
# Six weeks of data (the tests' deployments) are short jobs in short-lived JVMs, whose CPU goes
# mostly to the JIT's optimising compiler: QUICK_START_JAVA_OPTIONS (compile at the first tier,
# collect on one thread) halved it there. A year's features build is long enough to need the
# optimised code: with them it took 374 s instead of 139 s (docs/benchmarks.md).
QUICK_START_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def java_options_from_env() -> str:
    return os.environ.get("SPARK_JAVA_OPTIONS", "")


class SparkUnavailable(RuntimeError):
    """The cluster could not be started or reached; the message says why and where to look."""


def spark_home() -> Path:
    """Where pyspark's own Spark is: its jars and launch scripts."""
    try:
        import pyspark
    except ImportError as error:
        raise SparkUnavailable("pyspark is not installed: `make spark-up` installs the"
                               " project's spark extra") from error
    return Path(pyspark.__file__).parent


def java_home() -> Path:
    """JAVA_HOME when set, else Debian's Java 17 (Spark 4 needs 17 or later), else the java on
    the PATH."""
    candidates = [Path(os.environ["JAVA_HOME"])] if os.environ.get("JAVA_HOME") else []
    candidates += sorted(JVM_DIR.glob("java-17-openjdk-*"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent.parent)
    for home in candidates:
        if (home / "bin" / "java").exists():
            return home
    raise SparkUnavailable("Java 17 is not installed: `make` installs Debian's"
                           " openjdk-17-jre-headless (apt, as root or through sudo)")


@dataclass(frozen=True)
class ClusterState:
    """What the master reports: its URL and the workers it counts alive."""

    url: str
    alive_workers: int
    cores: int


class LocalSparkCluster:
    """The cluster in ``folder``: started, stopped, addressed. ``workers`` of ``cores`` cores
    and ``memory`` each."""

    def __init__(self, folder: Path, workers: int = 2, cores: int = 1, memory: str = "2g"):
        self.folder = Path(folder).resolve()
        self.workers, self.cores, self.memory = workers, cores, memory

    # --- what the folder holds ---------------------------------------------------------------

    def _port(self, name: str) -> int:
        path = self.folder / f"{name}.port"
        if not path.exists():
            path.write_text(str(free_port()))
        return int(path.read_text())

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self._port('master')}"

    def started_master_url(self) -> str | None:
        """The master's URL once the cluster has been started here, else None."""
        return self.master_url if (self.folder / "master.port").exists() else None

    @property
    def metastore_uri(self) -> str:
        """The catalog's Thrift address (Spark's ``spark.hadoop.hive.metastore.uris``). Hive
        2.3's metastore has no bind setting: it listens on every interface of the machine."""
        return f"thrift://{HOST}:{self._port('metastore')}"

    def started_metastore_uri(self) -> str | None:
        return self.metastore_uri if (self.folder / "metastore.port").exists() else None

    @property
    def master_ui(self) -> str:
        return f"http://{HOST}:{self._port('master-ui')}"

    def _processes(self) -> list[str]:
        return ["metastore", "master",
                *(f"worker-{number}" for number in range(1, self.workers + 1))]

    def pid(self, name: str) -> int | None:
        """The process ``name`` ("master", "worker-1", ...) when it is running."""
        path = self.folder / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text())
        _reap(pid)  # a child of this process that died is a zombie until collected
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    # --- running it ----------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        # Executors run a job's Python in this interpreter (the platform's environment) unless
        # told otherwise.
        return {"PYSPARK_PYTHON": sys.executable, **os.environ,
                "SPARK_HOME": str(spark_home()), "JAVA_HOME": str(java_home()),
                "SPARK_LOCAL_IP": HOST, "SPARK_LOG_DIR": str(self.folder),
                "SPARK_NO_DAEMONIZE": "1", "SPARK_DAEMON_JAVA_OPTS": java_options_from_env()}

    def _launch(self, name: str, arguments: list[str]) -> None:
        """Start a Spark daemon (its class and arguments) through pyspark's spark-class."""
        self._launch_command(name, [str(spark_home() / "bin" / "spark-class"), *arguments])

    def _launch_command(self, name: str, command: list[str]) -> None:
        if self.pid(name) is not None:
            return
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, env=self._environment(),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder,
            start_new_session=True,  # outlives `make spark-up`; stopped by its process group
            preexec_fn=default_signals)
        (self.folder / f"{name}.pid").write_text(str(process.pid))

    def _launch_metastore(self) -> None:
        catalog = self.folder / "metastore"
        catalog.mkdir(exist_ok=True)
        hive = {
            "javax.jdo.option.ConnectionURL":
                f"jdbc:derby:;databaseName={catalog}/metastore_db;create=true",
            "datanucleus.schema.autoCreateAll": "true",  # a new catalog creates its schema
            "hive.metastore.schema.verification": "false",
            # Only the default database's recorded place: Spark gives each database it creates
            # its driver's spark.sql.warehouse.dir (the deployment's lake).
            "hive.metastore.warehouse.dir": str(catalog / "warehouse"),
            "hive.async.log.enabled": "false",  # its async logger needs a jar pyspark lacks
            "hive.log.dir": str(self.folder), "hive.log.file": "metastore.hive.log",
        }
        self._launch_command("metastore", [
            str(java_home() / "bin" / "java"), *shlex.split(java_options_from_env()), "-Xmx512m",
            f"-Dderby.system.home={catalog}",
            "-cp", f"{spark_home() / 'jars'}/*", METASTORE_CLASS,
            "-p", str(self._port("metastore")),
            *(argument for key, value in hive.items()
              for argument in ("--hiveconf", f"{key}={value}"))])

    def metastore_answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self._port("metastore")), timeout=2):
                return True
        except OSError:
            return False

    def start(self, timeout: float = 120) -> ClusterState:
        """Start whatever is not running and wait until every worker has registered and the
        catalog answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._launch_metastore()  # its schema is created while the master and workers start
        self._launch("master", [MASTER_CLASS, "--host", HOST, "--port", str(self._port("master")),
                                "--webui-port", str(self._port("master-ui"))])
        self._wait(lambda state: state is not None, timeout, "the master to answer")
        for name in self._processes()[1:]:
            work = self.folder / name
            work.mkdir(exist_ok=True)
            self._launch(name, [WORKER_CLASS, "--host", HOST, "--cores", str(self.cores),
                                "--memory", self.memory, "--work-dir", str(work),
                                "--webui-port", str(self._port(f"{name}-ui")), self.master_url])
        state = self._wait(lambda state: state and state.alive_workers >= self.workers, timeout,
                           f"{self.workers} workers to register")
        deadline = time.monotonic() + timeout
        while not self.metastore_answers():
            if self.pid("metastore") is None or time.monotonic() > deadline:
                raise SparkUnavailable(
                    f"the Hive metastore of the Spark cluster in {self.folder} did not answer on"
                    f" {self.metastore_uri} (log: {self.folder}/metastore.log)")
            time.sleep(0.5)
        return state

    def state(self) -> ClusterState | None:
        """The master's own account (its JSON status page), or None when it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=5) as response:
                status = json.load(response)
        except (OSError, urllib.error.URLError, ValueError):
            return None
        alive = [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]
        return ClusterState(status.get("url", self.master_url), len(alive),
                            sum(w.get("cores", 0) for w in alive))

    def _wait(self, ready, timeout: float, what: str) -> ClusterState:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if ready(state):
                return state
            if self.pid("master") is None:
                break
            time.sleep(0.5)
        raise SparkUnavailable(f"waited {timeout:.0f}s for {what} of the Spark cluster in"
                               f" {self.folder} (logs: {self.folder}/*.log)")

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Stop one process ("master", "worker-1", ...) and what it started (a worker's
        executors): SIGTERM, then SIGKILL after ``timeout``; ``sig`` SIGKILL to kill it as a
        crash would."""
        pid = self.pid(name)
        if pid is None:
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while self.pid(name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.pid(name) is not None:
            os.killpg(pid, signal.SIGKILL)

    def stop(self) -> None:
        for name in reversed(self._processes()):
            self.stop_process(name)


def _reap(pid: int) -> None:
    """Collect the exit of a child of this process, so that it stops counting as running."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def main(argv=None) -> int:
    from resources.settings import data_dir_from_env

    parser = argparse.ArgumentParser(description="The deployment's Spark standalone cluster.")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    cluster = LocalSparkCluster(data_dir_from_env() / "spark", workers=args.workers)
    if args.action == "up":
        state = cluster.start()
        print(f"Spark master {state.url}: {state.alive_workers} workers, {state.cores} cores;"
              f" catalog {cluster.metastore_uri} (UI {cluster.master_ui}, logs in"
              f" {cluster.folder})")
    elif args.action == "down":
        cluster.stop()
        print(f"Spark cluster in {cluster.folder} stopped")
    else:
        state = cluster.state()
        print("not running" if state is None else
              f"{state.url}: {state.alive_workers} workers alive, {state.cores} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
