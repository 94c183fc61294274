"""The layout's rules, read from the source (docs/architecture.md): what may import what."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("assets", "core", "sensors", "resources", "instance", "internals", "spark", "platform")


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def importers(paths: list[Path], rule) -> list[str]:
    return [f"{path.relative_to(REPO)}: {name}" for path in paths
            for name in sorted(imports(path)) if rule(name)]


def test_the_folders_hold_python():
    assert all(modules(folder) for folder in PRODUCT + ("tools",))


def test_only_internals_reaches_into_dagster_and_dagster_dbt_internals():
    private = importers(modules(*PRODUCT, "tools"),
                        lambda name: any(part.startswith("_") for part in name.split(".")[1:])
                        and name.split(".")[0] in ("dagster", "dagster_dbt"))
    assert [line for line in private if not line.startswith("internals/")] == []
    assert private  # the rule reads what it should: internals/ does


@pytest.mark.parametrize("folder, allowed, who_may", [
    ("tools", ("tools",), "the tests and the tools themselves"),
    ("sensors", ("sensors", "platform"), "the composition root (platform/definitions.py)"),
])
def test_what_only_some_may_import(folder, allowed, who_may):
    others = [p for p in modules(*PRODUCT, "tools")
              if p.relative_to(REPO).parts[0] not in allowed]
    found = importers(others, lambda name: name == folder or name.startswith(folder + "."))
    assert found == [], f"only {who_may} may import {folder}/"
