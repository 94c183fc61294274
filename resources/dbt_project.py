"""The dbt project and the dbt CLI resource, as Dagster sees them, in a module of their own.

Keeping them apart from assets/features/dbt.py lets tooling prepare the manifest (``dbt parse``) before
anything that needs one is imported.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version


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


class PlatformDbtCli(DbtCliResource):
    """dagster-dbt's CLI resource without two costs it pays on every invocation.

    - It asks ``dbt --version`` for the version (a 3-4 s subprocess that also imports every
      installed adapter: the Trino one logs "keyring module not found"). The dbt it runs is the
      one installed beside this interpreter, so the installed dbt-core's version is the answer.
    - It builds an in-process dbt adapter (~3 s) used only by ``fetch_column_metadata`` and
      ``fetch_row_counts``, which this platform does not call: with DuckDB that adapter would
      also contend with the dbt subprocess for the warehouse file.

    Both override dagster-dbt internals of the pinned version (pyproject.toml).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def build_dbt_resource(project: DbtProject, dbt_executable: str) -> PlatformDbtCli:
    return PlatformDbtCli(project_dir=project, dbt_executable=dbt_executable)


_ENVIRONMENT_GUARD = threading.Lock()


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (for a subprocess started in it), then restore.

    dagster-dbt starts dbt with this process's environment and takes no environment of its own.
    """
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
