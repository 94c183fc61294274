"""The dbt project and the dbt CLI resource, as Dagster sees them, in a module of their own.

Keeping them apart from assets/transform/dbt.py lets tooling prepare the manifest (``dbt parse``) before
anything that needs one is imported.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject


def build_dbt_project(project_dir: Path, dbt_executable: str) -> DbtProject:
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    # Under `dagster dev`, re-parse when a model, macro or YAML is newer than the manifest, so
    # that edits show up on reload (elsewhere the Makefile has prepared target/manifest.json by
    # the same rule). Only when stale: every run's process loads these definitions too, and an
    # unconditional `dbt parse` (~4.5 s) was most of a run's start under `make ui`.
    # dagster-dbt's own preparer would call whatever `dbt` is first on PATH, which fails when
    # the venv is not activated.
    if project.preparer.using_dagster_dev() and manifest_is_stale(project_dir,
                                                                  project.manifest_path):
        subprocess.run([dbt_executable, "parse", "--quiet"], cwd=project_dir, check=True)
    return project


def manifest_is_stale(project_dir: Path, manifest_path: Path) -> bool:
    """Whether a file of the dbt project (any .sql or .yml outside target/ and logs/, the set
    the Makefile's DBT_SOURCES lists) is newer than the manifest, or there is no manifest."""
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    return any(path.stat().st_mtime > built for path in dbt_project_files(project_dir))


def dbt_project_files(project_dir: Path) -> Iterator[Path]:
    for pattern in ("*.sql", "*.yml"):
        for path in Path(project_dir).rglob(pattern):
            if not {"target", "logs"} & set(path.relative_to(project_dir).parts[:-1]):
                yield path


def build_dbt_resource(project: DbtProject, dbt_executable: str) -> DbtCliResource:
    """The project's dbt as a resource: where the project and its profile are. Builds run in
    the run's own process (internals/dbt_in_process.py), not through ``DbtCliResource.cli``."""
    return DbtCliResource(project_dir=project, dbt_executable=dbt_executable)


_ENVIRONMENT_GUARD = threading.Lock()


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block, then restore: dbt, running in this process,
    reads its profile's and the window's variables from this process's environment."""
    with _ENVIRONMENT_GUARD:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
