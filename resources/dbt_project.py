"""The dbt project as Dagster sees it, in a module of its own.

Keeping it apart from assets/dbt.py lets tooling prepare the manifest (``dbt parse``) before
anything that needs one is imported.
"""

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject


def build_dbt_project(project_dir: Path) -> DbtProject:
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    # Under `dagster dev` this re-parses so that edits to the SQL show up on reload; elsewhere
    # the Makefile has prepared target/manifest.json already.
    project.prepare_if_dev()
    return project


def build_dbt_resource(project: DbtProject) -> DbtCliResource:
    # DbtCliResource fails validation when `dbt` is not on PATH (an unactivated venv): point
    # it at the dbt installed beside this interpreter.
    return DbtCliResource(project_dir=project, dbt_executable=str(Path(sys.executable).parent / "dbt"))
