"""The local instance's run launcher: each run in a process that imported its libraries before.

Dagster's default launcher asks the code server to spawn a process for each run, which then
imports dagster, dagster-dbt with dbt, pandas, scikit-learn and onnxruntime before the run's
first step: under `make ui`, 1.5-2 s to spawn and ~2.5 s of imports, on every run, after the
landing's files arrived. This launcher keeps run workers (internals/run_worker.py) that
have imported those libraries already and wait; a run is handed to an idle one, which executes
it with `dagster api execute_run`'s code, as Dagster's Docker and Kubernetes launchers start
that command in a container. The repo's own code is imported by the run: every run loads the
definitions afresh, so an edit needs no restart.

- Idle workers are started while no run of this launcher is running (after the last one
  ended), so that their imports never take the CPU from a run; with none idle, a run gets a
  worker started for it, which costs what Dagster's default launcher does.
- The worker's pid is a tag of its run: terminate (the UI's button, in the webserver's process)
  sends it SIGTERM, which Dagster's run worker turns into a cancelled run; the run monitoring
  daemon fails a run whose worker is gone (killed, out of memory).
- Workers are processes on this machine: the launcher is for one machine (`make ui`); the
  cluster's instance (deploy/dagster.yaml) launches runs as Kubernetes jobs.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from dagster import Field
from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, serialize_value

WORKER_PID_TAG = "warm_launcher/worker_pid"
# "warm": the run's worker had imported before the launch; "cold": started for the run.
WORKER_KIND_TAG = "warm_launcher/worker"
WORKER_MODULE = "internals.run_worker"


@dataclass
class Worker:
    process: subprocess.Popen
    executable: str
    started: float = field(default_factory=time.monotonic)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, inst_data=None, idle_workers: int = 2, preload: list[str] | None = None,
                 dbt_project_dir: str | None = None):
        self._inst_data = inst_data
        self.idle_workers = idle_workers
        self.preload = list(preload or [])
        self.dbt_project_dir = dbt_project_dir
        self._lock = threading.Lock()
        self._idle: list[Worker] = []
        self._running: dict[str, Worker] = {}  # run id -> its worker, launched by this process
        self._disposed = False
        super().__init__()

    @property
    def inst_data(self):
        return self._inst_data

    @classmethod
    def config_type(cls):
        return {
            # A landing starts two runs at once (its outcomes, and the day it serves).
            "idle_workers": Field(int, is_required=False, default_value=2),
            "preload": Field([str], is_required=False, default_value=[],
                             description="Modules a worker imports before it waits for a run."),
            "dbt_project_dir": Field(str, is_required=False,
                                     description="A dbt project the worker parses once before"
                                                 " it waits (dbt's warm-up in a process)."),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "WarmRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    def idle_worker_pids(self) -> list[int]:
        with self._lock:
            return [worker.process.pid for worker in self._idle if worker.alive]

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None:
            raise ValueError(f"run {run.run_id} has no code origin to load its job from")
        executable = origin.executable_path or sys.executable
        args = serialize_value(ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref()))
        while True:
            worker, warm = self._take_worker(executable)
            try:
                self._instance.add_run_tags(run.run_id, {
                    WORKER_PID_TAG: str(worker.process.pid),
                    WORKER_KIND_TAG: "warm" if warm else "cold"})
            except Exception:
                _retire(worker)  # not left waiting for a run that never comes
                raise
            if _hand_over(worker, args):
                break
            # It died between the check and the hand-over: the next one (or a new one).
        with self._lock:
            self._running[run.run_id] = worker
        how = (f"warm: started {time.monotonic() - worker.started:.0f} s before the launch to"
               " import the libraries runs use" if warm else "started for it: no idle worker")
        self._instance.report_engine_event(
            f"Run handed to worker process {worker.process.pid} ({how}).", run,
            cls=self.__class__)
        threading.Thread(target=self._after_run, args=(run.run_id, worker), daemon=True,
                         name=f"warm-run-worker-{worker.process.pid}").start()

    def _take_worker(self, executable: str) -> tuple[Worker, bool]:
        with self._lock:
            while self._idle:
                worker = self._idle.pop(0)
                if worker.alive and worker.executable == executable:
                    return worker, True
                _retire(worker)
        return self._start_worker(executable, warm_up=False), False

    def _start_worker(self, executable: str, warm_up: bool = True) -> Worker:
        """``warm_up``: import the preload and parse the dbt project before waiting. A worker
        started for a run imports only what the run does, as Dagster's own run worker."""
        dbt = ["--dbt-project", self.dbt_project_dir] if self.dbt_project_dir else []
        process = subprocess.Popen(
            [executable, "-m", WORKER_MODULE, *(dbt + self.preload if warm_up else [])],
            stdin=subprocess.PIPE, text=True)
        return Worker(process, executable)

    def _after_run(self, run_id: str, worker: Worker) -> None:
        worker.process.wait()  # also reaps it
        with self._lock:
            del self._running[run_id]
            if self._disposed or self._running:
                return
            self._idle = [idle for idle in self._idle if idle.alive]
            while len(self._idle) < self.idle_workers:
                self._idle.append(self._start_worker(worker.executable))

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        pid = run.tags.get(WORKER_PID_TAG)
        if not pid:
            return False
        try:
            os.kill(int(pid), signal.SIGTERM)  # Dagster's run worker: SIGTERM is an interrupt
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        pid = run.tags.get(WORKER_PID_TAG)
        if not pid:  # launched some other way (before this launcher was configured)
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker pid recorded")
        with self._lock:
            worker = self._running.get(run.run_id)
        if worker is not None:
            code = worker.process.poll()
            if code is None:
                return CheckRunHealthResult(WorkerStatus.RUNNING)
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"run worker process {pid} exited with code {code}")
        try:
            os.kill(int(pid), 0)  # launched by another process: is the pid still there?
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED,
                                        f"run worker process {pid} no longer exists")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def join(self, timeout: int = 30) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            running = list(self._running.values())
        for worker in running:
            worker.process.wait(max(0.0, deadline - time.monotonic()))

    def dispose(self) -> None:
        with self._lock:
            self._disposed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            _retire(worker)


def _hand_over(worker: Worker, args: str) -> bool:
    try:
        worker.process.stdin.write(args + "\n")
        worker.process.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        return False
    return True


def _retire(worker: Worker) -> None:
    """An idle worker's end of input: it exits without running anything."""
    try:
        worker.process.stdin.close()
    except OSError:
        pass
