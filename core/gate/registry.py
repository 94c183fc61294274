"""The model registry: tables ml.model_registry and ml.champion_decisions in the warehouse,
shared by every model spec (each row names its model).

A version's stage says what it may still become:

- `candidate`: trained; its blocking checks and evaluation fill in `checks` and `metrics`. The
  newest candidate is the challenger: it shadows the champion and the gate judges it;
- `approved`: passed the gate while promotion is manual or paused: waits for an operator;
- `held`: better than is plausible (core/gate.implausible): waits for an operator, who
  promotes or rejects it;
- `champion`: serves (exactly one per model); `archived` when a newer one replaces it;
- `rejected`: failed a blocking check, the gate, or an operator's review;
- `rolled_back`: a champion an operator rolled back from: never promoted automatically again.

Every decision, kept or changed, is a row in ml.champion_decisions with its reason, its actor
and its evidence; so are an operator's pause and resume of automatic promotion.

Functions take an open DuckDB connection so that callers decide the transaction.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb

from core.tables import table_exists

# What a version may be while it waits for the gate or for an operator.
WAITING_STAGES = ("candidate", "approved", "held")
SERVING_SKEW = "serving_skew"  # a check recorded while a version serves or shadows (core/serve/skew.py)
STAGES = ("candidate", "approved", "held", "champion", "archived", "rejected", "rolled_back")
_DDL = [
    "create schema if not exists ml",
    """
    create table if not exists ml.model_registry (
        version varchar primary key,
        model_name varchar not null,
        cutoff date not null,
        created_at timestamp not null,
        stage varchar not null check (stage in ({stages})),
        artifact_dir varchar not null,
        train_start date, train_end date, holdout_start date, holdout_end date,
        training_set_hash varchar not null,
        checks json,
        metrics json,
        lineage json
    )
    """,
    """
    create table if not exists ml.champion_decisions (
        decided_at timestamp not null,
        model_name varchar,
        action varchar not null,  -- promote | approve | hold | wait | reject | keep | rollback | pause | resume
        challenger varchar,
        champion_before varchar,
        champion_after varchar,
        reason varchar not null,
        actor varchar not null,
        details json
    )
    """,
]


@dataclass(frozen=True)
class RegisteredModel:
    version: str
    model_name: str
    cutoff: date
    stage: str
    artifact_dir: str
    train_start: date
    train_end: date
    holdout_start: date
    holdout_end: date
    checks: dict
    metrics: dict


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in _DDL:
        con.execute(statement.replace("{stages}", ", ".join(f"'{s}'" for s in STAGES)))
    _migrate(con)


def _migrate(con) -> None:
    """Warehouses written before today's stages (and before a decision named its model) are
    brought up to date in place, keeping every row."""
    con.execute("alter table ml.champion_decisions add column if not exists model_name varchar")
    (check,) = con.execute(
        "select coalesce(max(constraint_text), '') from duckdb_constraints()"
        " where schema_name = 'ml' and table_name = 'model_registry'"
        " and constraint_type = 'CHECK'").fetchone()
    if all(f"'{stage}'" in check for stage in STAGES):
        return
    con.execute("alter table ml.model_registry rename to model_registry_before_stages")
    con.execute(_DDL[1].replace("{stages}", ", ".join(f"'{s}'" for s in STAGES)))
    con.execute("insert into ml.model_registry select * from ml.model_registry_before_stages")
    con.execute("drop table ml.model_registry_before_stages")


def _registry_exists(con) -> bool:
    return table_exists(con, "ml.model_registry")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def register_candidate(con, *, version, model_name, cutoff, artifact_dir, windows, training_set_hash,
                       lineage) -> None:
    """Add a trained version; re-registering the same version keeps its stage and results."""
    ensure_tables(con)
    con.execute(
        """
        insert into ml.model_registry
            (version, model_name, cutoff, created_at, stage, artifact_dir, train_start, train_end,
             holdout_start, holdout_end, training_set_hash, checks, metrics, lineage)
        values (?, ?, ?, ?, 'candidate', ?, ?, ?, ?, ?, ?, '{}', '{}', ?)
        on conflict (version) do update set artifact_dir = excluded.artifact_dir,
                                            lineage = excluded.lineage
        """,
        [version, model_name, cutoff, _now(), artifact_dir, *windows, training_set_hash,
         json.dumps(lineage)],
    )


def _merge_json(con, version: str, column: str, values: dict) -> None:
    current = con.execute(
        f"select {column} from ml.model_registry where version = ?", [version]
    ).fetchone()
    if current is None:
        raise KeyError(f"model version {version} is not registered")
    merged = {**json.loads(current[0] or "{}"), **values}
    con.execute(
        f"update ml.model_registry set {column} = ? where version = ?", [json.dumps(merged), version]
    )


def record_check(con, version: str, check_name: str, passed: bool, value: float) -> None:
    _merge_json(con, version, "checks", {check_name: {"passed": passed, "value": value}})


def record_metrics(con, version: str, metrics: dict) -> None:
    _merge_json(con, version, "metrics", metrics)


def _row_to_model(row) -> RegisteredModel:
    (version, model_name, cutoff, stage, artifact_dir, train_start, train_end, holdout_start, holdout_end,
     checks, metrics) = row
    return RegisteredModel(version, model_name, cutoff, stage, artifact_dir, train_start, train_end,
                           holdout_start, holdout_end, json.loads(checks or "{}"),
                           json.loads(metrics or "{}"))


_MODEL_COLUMNS = ("version, model_name, cutoff, stage, artifact_dir, train_start, train_end, holdout_start,"
                  " holdout_end, checks, metrics")


def _first_model(con, clause: str, params=()) -> RegisteredModel | None:
    if not _registry_exists(con):
        return None
    row = con.execute(
        f"select {_MODEL_COLUMNS} from ml.model_registry {clause} limit 1", list(params)
    ).fetchone()
    return _row_to_model(row) if row else None


def lineage_of(con, version: str) -> dict:
    """What made the version and where its parts are (assets/train/model.py writes it)."""
    row = con.execute("select lineage from ml.model_registry where version = ?",
                      [version]).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def get_model(con, version: str) -> RegisteredModel | None:
    return _first_model(con, "where version = ?", [version])


def current_champion(con, model_name: str) -> RegisteredModel | None:
    return _first_model(con, "where model_name = ? and stage = 'champion'", [model_name])


def newest_model(con, model_name: str) -> RegisteredModel | None:
    """The model with the latest cutoff (the newest trained, on a tie), whatever its stage."""
    return _first_model(con, "where model_name = ? order by cutoff desc, created_at desc",
                        [model_name])


def _newest_since_champion(con, model_name: str, stages: tuple[str, ...],
                           passed: tuple[str, ...] = ()):
    """The newest version in ``stages`` trained at or after the champion's cutoff (and that
    passed the checks ``passed``)."""
    champion = current_champion(con, model_name)
    checks = "".join(f" and coalesce(json_extract(checks, '$.{name}.passed')::boolean, false)"
                     for name in passed)
    if passed:  # and no check found later (serving skew) failed
        checks += f" and coalesce(json_extract(checks, '$.{SERVING_SKEW}.passed')::boolean, true)"
    return _first_model(
        con, f"where model_name = ? and list_contains(?, stage) and cutoff >= ?{checks}"
             " order by cutoff desc, created_at desc",
        [model_name, list(stages), champion.cutoff if champion else date.min])


def challenger(con, model_name: str) -> RegisteredModel | None:
    """What the gate judges: the newest candidate."""
    return _newest_since_champion(con, model_name, ("candidate",))


def shadowing_model(con, model_name: str) -> RegisteredModel | None:
    """The model that scores each new day beside the champion, never served: the newest
    candidate, approved or held version (the one waiting for the gate or for an operator)
    that passed its blocking checks."""
    return _newest_since_champion(con, model_name, WAITING_STAGES,
                                  ("onnx_matches_sklearn", "quality_floor"))


def models_in_creation_order(con, model_name: str | None = None) -> list[RegisteredModel]:
    if not _registry_exists(con):
        return []
    rows = con.execute(
        f"select {_MODEL_COLUMNS} from ml.model_registry"
        " where ? is null or model_name = ? order by created_at", [model_name, model_name]
    ).fetchall()
    return [_row_to_model(row) for row in rows]


def evaluated_models(con, model_name: str) -> list[RegisteredModel]:
    """The versions of ``model_name`` with holdout metrics, by cutoff."""
    if not _registry_exists(con):
        return []
    rows = con.execute(
        f"select {_MODEL_COLUMNS} from ml.model_registry where model_name = ?"
        " and json_extract(metrics, '$.rows') is not null order by cutoff, created_at",
        [model_name]).fetchall()
    return [_row_to_model(row) for row in rows]


def record_decision(con, *, model_name, action, challenger, champion_before, champion_after,
                    reason, actor, details=None) -> None:
    ensure_tables(con)
    con.execute(
        "insert into ml.champion_decisions (decided_at, model_name, action, challenger,"
        " champion_before, champion_after, reason, actor, details)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_now(), model_name, action, challenger, champion_before, champion_after, reason, actor,
         json.dumps(details or {}, default=str)],
    )


def gate_looks(con, model_name: str, challenger: str) -> tuple[int, ...]:
    """The days of evidence at which the gate has looked at ``challenger`` (each look spends
    part of its error rate: core/gate/sequential.py), in order."""
    if not _registry_exists(con):
        return ()
    rows = con.execute(
        "select distinct cast(json_extract(details, '$.look.days') as integer) as days"
        " from ml.champion_decisions where model_name = ? and challenger = ?"
        " and json_extract(details, '$.look.days') is not null order by days",
        [model_name, challenger]).fetchall()
    return tuple(days for (days,) in rows)


def promotion_paused(con, model_name: str) -> bool:
    """Whether an operator paused automatic promotion (the latest pause or resume decides)."""
    if not _registry_exists(con):
        return False
    row = con.execute(
        "select action from ml.champion_decisions where model_name = ?"
        " and action in ('pause', 'resume') order by decided_at desc limit 1",
        [model_name]).fetchone()
    return bool(row) and row[0] == "pause"


def set_stage(con, version: str, stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"{stage!r} is not a stage ({', '.join(STAGES)})")
    con.execute("update ml.model_registry set stage = ? where version = ?", [stage, version])


def make_champion(con, version: str, previous_stage: str = "archived") -> None:
    """Crown ``version``; the champion before it (if any) goes to ``previous_stage``."""
    model = get_model(con, version)
    if model is None:
        raise KeyError(f"model version {version} is not registered")
    con.execute("update ml.model_registry set stage = ?"
                " where stage = 'champion' and model_name = ?", [previous_stage, model.model_name])
    set_stage(con, version, "champion")
