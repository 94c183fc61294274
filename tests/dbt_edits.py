"""An analyst's edits of the dbt project, made on a copy: a new model input in the SQL, its
YAML (type and meta model_input) and its expected values in the point-in-time unit test."""

import shutil
import subprocess
from pathlib import Path

from resources.settings import REPO_ROOT

FEATURES = Path("models") / "features"
UNIT_TEST_ROWS = ("same_day", "target", "next_day")  # its expected rows, by flight_id


def project_copy(target: Path, dbt: str, *edits) -> Path:
    """The repo's dbt project copied to ``target``, edited, parsed."""
    shutil.copytree(REPO_ROOT / "dbt_project", target,
                    ignore=shutil.ignore_patterns("target", "logs", ".user.yml"))
    for edit in edits:
        edit(target)
    subprocess.run([dbt, "parse", "--quiet"], cwd=target, check=True)
    return target


def add_input(name: str, expression: str, expected: dict[str, object], *, ctes: str = "",
              joins: str = "", fixtures: str = ""):
    """An edit: the column ``name`` = ``expression`` (with the CTEs and joins it needs), declared
    a numeric model input, and its value in each expected row of the unit test
    (``expected``: flight_id -> value; ``fixtures``: more given inputs of the test, YAML)."""

    def edit(project: Path) -> None:
        sql = project / FEATURES / "flight_features.sql"
        text = sql.read_text()
        text = text.replace("    cast(scheduled.distance as double) as distance,\n",
                            "    cast(scheduled.distance as double) as distance,\n"
                            f"    cast({expression} as double) as {name},\n")
        if ctes:
            text = text.replace("-- The origin's weather on the last day observed",
                                f"{ctes},\n\n-- The origin's weather on the last day observed")
        if joins:
            text = text.replace("left join weather_known as weather",
                                f"{joins}\nleft join weather_known as weather")
        sql.write_text(text)
        yml = project / FEATURES / "flight_features.yml"
        text = yml.read_text().replace(
            "      - name: plane_age_years\n",
            f"      - name: {name}\n        data_type: double\n"
            "        config:\n          meta:\n            model_input: numeric\n"
            "      - name: plane_age_years\n")
        for flight in UNIT_TEST_ROWS:
            value = "null" if expected.get(flight) is None else expected[flight]
            text = text.replace(f"\n        - {{flight_id: {flight}, ",
                                f"\n        - {{flight_id: {flight}, {name}: {value}, ")
        if fixtures:
            text = text.replace("      - input: ref('stg_planes')",
                                f"{fixtures}\n      - input: ref('stg_planes')")
        yml.write_text(text)

    return edit
