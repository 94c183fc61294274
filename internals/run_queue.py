"""Queue runs of the repo's code location and stop its sensors, as an operator does from the UI
but with no webserver: for the tests and `make chaos` (tools/faults.py).

Dagster's public way to do this from a shell is its CLI, one process per command (`dagster
sensor stop NAME`, `dagster job launch`), each loading the workspace again (a code server
start). The default, ``in_process``, does what those commands do with one workspace load in
this process, which takes dagster._cli's functions (private). ``RUN_QUEUE=stock`` (or
``stock=True``) runs the commands themselves; tests/wiring/test_run_queue.py pins the two to
the same runs and the same stopped sensors.
"""

import json
import os
import subprocess
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance

from assets.partitions import PARTITION_TAG
from resources.settings import REPO_ROOT

WORKSPACE = REPO_ROOT / "workspace.yaml"


class RunQueue(ABC):
    """The workspace as loaded for one operator's session: stop sensors, queue runs."""

    @abstractmethod
    def sensor_names(self) -> set[str]:
        """Every sensor of the code location."""

    @abstractmethod
    def stop_sensors(self, names: list[str] | None = None) -> None:
        """Stop ``names`` (every sensor of the code location when None)."""

    @abstractmethod
    def queue(self, job_name: str, partitions: list[str]) -> list[str]:
        """Submit one run of ``job_name`` per partition to the instance's run queue; their ids,
        in the order of ``partitions``."""


class _InProcess(RunQueue):
    def __init__(self, instance: DagsterInstance, workspace, code_location, repo):
        self.instance, self.workspace = instance, workspace
        self.code_location, self.repo = code_location, repo

    def sensor_names(self):
        return {sensor.name for sensor in self.repo.get_sensors()}

    def stop_sensors(self, names=None):
        sensors = (self.repo.get_sensors() if names is None
                   else [self.repo.get_sensor(name) for name in names])
        for sensor in sensors:  # what `dagster sensor stop` does
            self.instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)

    def queue(self, job_name, partitions):
        from dagster._cli.job import _create_run

        remote_job = self.repo.get_full_job(job_name)
        run_ids = []
        for partition in partitions:  # what `dagster job launch --tags` does
            run = _create_run(
                instance=self.instance, code_location=self.code_location,
                remote_repo=self.repo, remote_job=remote_job, run_config={},
                tags={PARTITION_TAG: partition}, op_selection=None, run_id=None)
            self.instance.submit_run(run.run_id, self.workspace)
            run_ids.append(run.run_id)
        return run_ids


class _Cli(RunQueue):
    """Dagster's own commands, in processes that find the instance through DAGSTER_HOME."""

    def _dagster(self, *args: str) -> str:
        command = [str(Path(sys.executable).parent / "dagster"), *args, "-w", str(WORKSPACE)]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def sensor_names(self):
        # one name a line, among the code server's log lines (the same stream)
        listed = self._dagster("sensor", "list", "--name").splitlines()
        return {line for line in listed if line.isidentifier()}

    def stop_sensors(self, names=None):
        for name in sorted(self.sensor_names()) if names is None else names:
            self._dagster("sensor", "stop", name)

    def queue(self, job_name, partitions):
        run_ids = [str(uuid.uuid4()) for _ in partitions]
        for partition, run_id in zip(partitions, run_ids, strict=True):
            self._dagster("job", "launch", "-j", job_name, "--run-id", run_id,
                          "--tags", json.dumps({PARTITION_TAG: partition}))
        return run_ids


def stock_by_default() -> bool:
    return os.environ.get("RUN_QUEUE", "in_process") == "stock"


@contextmanager
def operator_session(instance: DagsterInstance, stock: bool | None = None) -> Iterator[RunQueue]:
    """The repo's code location (workspace.yaml), loaded once for the session unless ``stock``.
    Its code server, and the commands of ``stock``, read the deployment from this process's
    environment: DAGSTER_HOME must name ``instance``'s home."""
    home = os.environ.get("DAGSTER_HOME")
    if home is None or Path(home).resolve() != Path(instance.root_directory).resolve():
        raise ValueError(f"DAGSTER_HOME is {home!r}, not the instance's home "
                         f"{instance.root_directory}: the code location would load another "
                         "deployment")
    if stock is None:
        stock = stock_by_default()
    if stock:
        yield _Cli()
        return
    from dagster._cli.workspace.cli_target import WorkspaceOpts, get_workspace_from_cli_opts
    from dagster.version import __version__

    opts = WorkspaceOpts(workspace=(str(WORKSPACE),))
    with get_workspace_from_cli_opts(instance, version=__version__, workspace_opts=opts) as workspace:
        (entry,) = workspace.get_code_location_entries().values()
        code_location = entry.code_location
        (repo,) = code_location.get_repositories().values()
        yield _InProcess(instance, workspace, code_location, repo)
