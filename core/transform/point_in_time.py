"""What is known when, checked rather than promised: a feature model's stored rows against the
same rows rebuilt as of each day's prediction time. Free of Dagster.

For a day D, the world as it stood at D's prediction time (the end of D - lead) holds the
files that had landed by then (core/ingest/contract.py says when each feed lands): the schedules up
to D, the outcomes and the weather up to D - lead, the reference tables. The feature model
and everything upstream of it are rebuilt on that world alone and compared with the stored
rows, column by column. Any column that differs read something that did not exist yet: an
outcome of D, a window that includes D, a later day. The audit does not trust the SQL; it
only changes what exists.

Two rules are read from dbt's manifest without running anything:

- a feature model reads a parent on the same day D only when that parent is known before the
  day (the schedule, the reference tables); a parent that lands after its day (outcomes,
  weather, labels) must be listed in the model's ``days_read``, which maps day D to the days
  up to D - lead (the asset graph then shows what D depends on);
- the model's point-in-time unit test (meta ``point_in_time_unit_test``) expects a value for
  every declared input, so that `dbt build` checks each input's logic on fixed data too.

An audit is identified by its ``audit_key``: the SQL, configuration and macros of the feature
model and all of its ancestors, its declared inputs and the prediction lead. The same key has
the same answer; an edit anywhere upstream asks again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date

import pandas as pd

from core.ingest.contract import DAILY_DATASETS, last_known_day
from core.tables import table_exists
from core.transform.model_inputs import ModelInputs

# Floats rebuilt in another order (a sum over a window) may differ in their last bits.
RELATIVE_TOLERANCE = 1e-9
KEY = "flight_id"  # one row per scheduled flight in a feature model
ROWS = "(rows)"  # a difference in which flights there are, not in a column
DAY = "flight_date"


def as_of(day: date, lead_days: int) -> dict[str, date]:
    """Each daily feed's last day known at ``day``'s prediction time."""
    return {name: last_known_day(dataset, day, lead_days)
            for name, dataset in DAILY_DATASETS.items()}


# --- the audit's identity and the manifest's rules ---------------------------------------------

def _node(manifest: dict, model: str) -> dict:
    node = next((node for node in manifest["nodes"].values()
                 if node["resource_type"] == "model" and node["name"] == model), None)
    if node is None:
        raise KeyError(f"no dbt model named {model!r}")
    return node


def _ancestors(manifest: dict, unique_id: str) -> set[str]:
    seen, todo = set(), [unique_id]
    while todo:
        for parent in manifest["parent_map"].get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _macros(manifest: dict, names: list[str]) -> set[str]:
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in manifest["macros"]:
            continue
        seen.add(name)
        todo.extend(manifest["macros"][name].get("depends_on", {}).get("macros", []))
    return seen


def audit_key(manifest: dict, model: str, inputs: ModelInputs, lead_days: int) -> str:
    """What an audit's answer depends on: the SQL (checksums), configuration and macros of the
    model and its ancestors, the declared inputs and the prediction lead."""
    node = _node(manifest, model)
    digest = hashlib.sha256()
    members = sorted({node["unique_id"], *_ancestors(manifest, node["unique_id"])})
    macro_names: list[str] = []
    for unique_id in members:
        member = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        digest.update(unique_id.encode())
        digest.update(json.dumps(member.get("checksum", {}), sort_keys=True).encode())
        digest.update(json.dumps((member.get("config") or {}).get("meta", {}),
                                 sort_keys=True, default=str).encode())
        macro_names += member.get("depends_on", {}).get("macros", [])
    for name in sorted(_macros(manifest, macro_names)):
        digest.update(name.encode())
        digest.update(manifest["macros"][name].get("macro_sql", "").encode())
    digest.update(json.dumps([inputs.to_dict(), lead_days], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def days_read(node: dict) -> dict[str, int]:
    """The earlier days of each parent a model reads (meta ``days_read``: {parent: N} = the N
    days up to D - lead); a parent not listed is read on the same day."""
    return dict(((node.get("config") or {}).get("meta") or {}).get("days_read") or {})


def _lands_after_the_day(manifest: dict, unique_id: str, memo: dict[str, bool]) -> bool:
    """Whether day D of this node exists only after day D: it is a feed that lands after its
    day, or reads one on the same day (a parent it does not shift with days_read)."""
    if unique_id in memo:
        return memo[unique_id]
    memo[unique_id] = False  # cycles cannot occur in dbt; this only ends the recursion
    if unique_id in manifest["sources"]:
        dataset = DAILY_DATASETS.get(manifest["sources"][unique_id]["name"])
        memo[unique_id] = bool(dataset and not dataset.published_ahead)
        return memo[unique_id]
    node = manifest["nodes"].get(unique_id, {})
    shifted = days_read(node)
    memo[unique_id] = any(
        _lands_after_the_day(manifest, parent, memo)
        for parent in manifest["parent_map"].get(unique_id, [])
        if _name(manifest, parent) not in shifted)
    return memo[unique_id]


def _name(manifest: dict, unique_id: str) -> str:
    member = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
    return member.get("name", unique_id)


def same_day_reads_after_the_day(manifest: dict, model: str) -> list[str]:
    """The parents ``model`` reads on day D itself although they land after D: each is a
    problem, stated with what to do about it."""
    node = _node(manifest, model)
    shifted, memo = days_read(node), {}
    problems = []
    for parent in sorted(manifest["parent_map"].get(node["unique_id"], [])):
        name = _name(manifest, parent)
        if name not in shifted and _lands_after_the_day(manifest, parent, memo):
            problems.append(
                f"{node['original_file_path']} reads {name} on the flight's own day D, but day"
                f" D of {name} exists only after the day (it comes from a feed that lands after"
                f" its day): list it under meta days_read in the model's YAML (day D then"
                f" reads it up to D - lead), or leave it out of the features")
    return problems


def point_in_time_unit_test(manifest: dict, model: str) -> dict | None:
    """The unit test the model's YAML names as its point-in-time test (meta
    point_in_time_unit_test), None if it names none."""
    node = _node(manifest, model)
    name = ((node.get("config") or {}).get("meta") or {}).get("point_in_time_unit_test")
    if not name:
        return None
    return next((test for test in manifest.get("unit_tests", {}).values()
                 if test["model"] == model and test["name"] == name), {"name": name})


def unit_test_gaps(manifest: dict, model: str, inputs: ModelInputs) -> list[str]:
    """What the model's point-in-time unit test leaves unchecked: every declared input must
    have an expected value in it (dbt compares only the columns its expected rows name)."""
    node = _node(manifest, model)
    where = node["original_file_path"].replace(".sql", ".yml")
    test = point_in_time_unit_test(manifest, model)
    if test is None:
        return [f"{where}: no point-in-time unit test is named (meta point_in_time_unit_test)"]
    if "expect" not in test:
        return [f"{where}: the point-in-time unit test {test['name']!r} does not exist"]
    named = {column for row in test["expect"].get("rows") or [] for column in row}
    missing = [column for column in inputs.columns if column not in named]
    if not missing:
        return []
    return [f"{where}: the point-in-time unit test {test['name']} expects no value for the"
            f" declared input(s) {', '.join(missing)}: add each to its expected rows with the"
            " value known at the prediction time"]


# --- comparing stored rows with the rebuild ---------------------------------------------------

# What two rebuilds (or the stored rows and a rebuild) hold when they differ, by kind.
SIDES = {"leak": ("with what landed later", "with only what was known then"),
         "stale": ("stored", "rebuilt now")}


@dataclass(frozen=True)
class ColumnDifference:
    """A column whose values differ between two versions of the same rows: a leak (rebuilt
    with everything landed now against as of the prediction time) or stale stored rows
    (stored against rebuilt now)."""

    column: str
    days: tuple[date, ...]
    rows: int
    example: dict  # the flight, and its value on each side
    kind: str = "leak"

    def describe(self) -> str:
        days = ", ".join(map(str, self.days[:5])) + (" ..." if len(self.days) > 5 else "")
        left, right = SIDES[self.kind]
        return (f"{self.column}: {self.rows:,} row(s) on {len(self.days)} day(s) ({days})"
                f" differ, e.g. {self.example[KEY]}: {self.example['left']!r} {left},"
                f" {self.example['right']!r} {right}")

    def as_dict(self) -> dict:
        return {"column": self.column, "days": [str(d) for d in self.days], "rows": self.rows,
                "example": self.example, "kind": self.kind}

    @classmethod
    def from_dict(cls, stored: dict) -> ColumnDifference:
        return cls(stored["column"], tuple(date.fromisoformat(d) for d in stored["days"]),
                   stored["rows"], stored["example"], stored.get("kind", "leak"))


def _plain(value):
    """A value as people and JSON read it (numpy and pandas scalars, NaN as None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _differs(stored: pd.Series, known: pd.Series) -> pd.Series:
    """Row by row: the values differ (a null on one side only counts; floats within the
    tolerance do not)."""
    stored_null, known_null = stored.isna(), known.isna()
    both = ~stored_null & ~known_null
    if pd.api.types.is_numeric_dtype(stored) and pd.api.types.is_numeric_dtype(known) \
            and not pd.api.types.is_bool_dtype(stored):
        a, b = stored.astype("float64"), known.astype("float64")
        unequal = (a - b).abs() > RELATIVE_TOLERANCE * pd.concat([a.abs(), b.abs()], axis=1).max(
            axis=1).clip(lower=1.0)
    else:
        unequal = stored.astype(str) != known.astype(str)
    return (stored_null != known_null) | (both & unequal)


def compare(left: pd.DataFrame, right: pd.DataFrame, kind: str = "leak"
            ) -> list[ColumnDifference]:
    """Every column whose values differ between two versions of the same flights' rows (see
    SIDES for what ``left`` and ``right`` are of each kind); a flight only one side has is a
    difference of the rows, a column only one side has a difference of every row."""
    merged = left.merge(right, on=KEY, how="outer", suffixes=("", "__right"), indicator=True)
    differences = []
    one_sided = merged[merged["_merge"] != "both"]
    if len(one_sided):
        first = one_sided.iloc[0]
        differences.append(ColumnDifference(
            ROWS, tuple(sorted({_day(v) for v in one_sided[DAY].fillna(
                one_sided[f"{DAY}__right"])})), len(one_sided),
            {KEY: first[KEY], "left": "present" if first["_merge"] == "left_only" else "absent",
             "right": "present" if first["_merge"] == "right_only" else "absent"}, kind))
    both = merged[merged["_merge"] == "both"]
    days = tuple(sorted({_day(v) for v in both[DAY]}))
    for column in [*left.columns, *(c for c in right.columns if c not in left)]:
        if column == KEY:
            continue
        if column not in right.columns or column not in left.columns:
            differences.append(ColumnDifference(column, days, len(both), {
                KEY: "(every row)",
                "left": "a column" if column in left.columns else "no such column",
                "right": "a column" if column in right.columns else "no such column"}, kind))
            continue
        unequal = _differs(both[column], both[f"{column}__right"])
        if unequal.any():
            rows = both[unequal]
            first = rows.iloc[0]
            differences.append(ColumnDifference(
                column, tuple(sorted({_day(v) for v in rows[DAY]})), int(unequal.sum()),
                {KEY: first[KEY], "left": _plain(first[column]),
                 "right": _plain(first[f"{column}__right"])}, kind))
    return differences


def _day(value) -> date:
    return pd.Timestamp(value).date()


@dataclass(frozen=True)
class AuditResult:
    """One audit of a feature model: what was compared, and what differed or broke a rule."""

    feature_model: str
    audit_key: str
    days: tuple[date, ...]
    rows: int
    columns: tuple[str, ...]
    differences: tuple[ColumnDifference, ...] = ()  # rebuilt as of then != rebuilt now: leaks
    problems: tuple[str, ...] = ()  # the manifest's rules broken
    # the stored rows against a rebuild now: they predate data or SQL (rebuild them), no leak
    stale: tuple[ColumnDifference, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.differences and not self.problems

    @property
    def failed_columns(self) -> list[str]:
        return [difference.column for difference in self.differences]

    def evidence(self) -> str:
        """What the audit compared, in a sentence."""
        if not self.days:
            return "no day was compared"
        days = ", ".join(map(str, self.days))
        stale = (f"; the stored rows of {len(self.stale)} column(s) predate data or SQL that"
                 f" is in now (stale: rebuild them): {', '.join(d.column for d in self.stale)}"
                 if self.stale else "")
        return (f"{len(self.days)} day(s) rebuilt from only what had landed by their"
                f" prediction time ({days}) and from everything landed now: {self.rows:,} rows"
                f" x {len(self.columns)} columns compared, {len(self.differences)} column(s)"
                f" differed{stale}")

    def describe(self) -> str:
        if self.passed:
            return f"{self.feature_model}: known by the prediction time; {self.evidence()}"
        lines = [f"{self.feature_model}: NOT known by the prediction time"]
        lines += [f"- {difference.describe()}" for difference in self.differences]
        lines += [f"- stale, not a leak: {difference.describe()}" for difference in self.stale]
        lines += [f"- {problem}" for problem in self.problems]
        if self.days:
            lines.append(f"({self.evidence()})")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"feature_model": self.feature_model, "audit_key": self.audit_key,
                "days": [str(d) for d in self.days], "rows": self.rows,
                "columns": list(self.columns),
                "differences": [d.as_dict() for d in self.differences],
                "problems": list(self.problems), "passed": self.passed,
                "stale": [d.as_dict() for d in self.stale]}

    @classmethod
    def from_dict(cls, stored: dict) -> AuditResult:
        return cls(stored["feature_model"], stored["audit_key"],
                   tuple(date.fromisoformat(d) for d in stored["days"]), stored["rows"],
                   tuple(stored["columns"]),
                   tuple(ColumnDifference.from_dict(d) for d in stored["differences"]),
                   tuple(stored["problems"]),
                   tuple(ColumnDifference.from_dict(d) for d in stored.get("stale", ())))


def sample_days(candidates: list[date], size: int) -> list[date]:
    """At most ``size`` of the candidate days, spread evenly from the first to the last (the
    last always included: the newest rows are the ones about to be served)."""
    candidates = sorted(set(candidates))
    if len(candidates) <= size:
        return candidates
    if size <= 1:
        return candidates[-1:]
    step = (len(candidates) - 1) / (size - 1)
    return sorted({candidates[round(i * step)] for i in range(size)})


# --- where audits are recorded ------------------------------------------------------------------

AUDITS_TABLE = "audits.point_in_time"
_AUDITS_DDL = [
    "create schema if not exists audits",
    f"""
    create table if not exists {AUDITS_TABLE} (
        feature_model varchar not null,
        audit_key varchar not null,
        passed boolean not null,
        audited_at timestamp not null default current_timestamp,
        result json not null
    )
    """,
]


def record_audit(con, result: AuditResult) -> None:
    for statement in _AUDITS_DDL:
        con.execute(statement)
    con.execute(f"insert into {AUDITS_TABLE} (feature_model, audit_key, passed, result)"
                " values (?, ?, ?, ?)",
                [result.feature_model, result.audit_key, result.passed,
                 json.dumps(result.as_dict(), default=str)])


def recorded_audit(con, feature_model: str, key: str) -> AuditResult | None:
    """The latest audit of ``feature_model`` under ``key`` (None: never audited so)."""
    if not table_exists(con, AUDITS_TABLE):
        return None
    rows = con.execute(f"select result from {AUDITS_TABLE} where feature_model = ? and"
                       " audit_key = ? order by audited_at desc limit 1",
                       [feature_model, key]).fetchall()
    return AuditResult.from_dict(json.loads(rows[0][0])) if rows else None
