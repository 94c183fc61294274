"""The model registry: tables ml.model_registry and ml.champion_decisions in the warehouse,
shared by every model spec (each row names its model).

A version is registered as a `candidate` when trained; its blocking checks and its evaluation
fill in `checks` and `metrics`; ml/champion (or a rollback) makes exactly one version the
`champion` and archives the one before. Every decision, kept or changed, is a row in
ml.champion_decisions with its reason.

Functions take an open DuckDB connection so that callers decide the transaction.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

import duckdb

_DDL = [
    "create schema if not exists ml",
    """
    create table if not exists ml.model_registry (
        version varchar primary key,
        model_name varchar not null,
        cutoff date not null,
        created_at timestamp not null,
        stage varchar not null check (stage in ('candidate', 'champion', 'archived')),
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
        action varchar not null,  -- promote | keep | rollback
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
        con.execute(statement)


def _registry_exists(con) -> bool:
    # Readers may hold a read-only connection, so they check instead of creating.
    return bool(con.execute(
        "select count(*) from information_schema.tables"
        " where table_schema = 'ml' and table_name = 'model_registry'"
    ).fetchone()[0])


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


def get_model(con, version: str) -> RegisteredModel | None:
    return _first_model(con, "where version = ?", [version])


def current_champion(con, model_name: str) -> RegisteredModel | None:
    return _first_model(con, "where model_name = ? and stage = 'champion'", [model_name])


def newest_model(con, model_name: str) -> RegisteredModel | None:
    """The challenger: the model with the latest cutoff (the newest trained, on a tie)."""
    return _first_model(con, "where model_name = ? order by cutoff desc, created_at desc",
                        [model_name])


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


def record_decision(con, *, action, challenger, champion_before, champion_after, reason, actor,
                    details=None) -> None:
    ensure_tables(con)
    con.execute(
        "insert into ml.champion_decisions values (?, ?, ?, ?, ?, ?, ?, ?)",
        [_now(), action, challenger, champion_before, champion_after, reason, actor,
         json.dumps(details or {})],
    )


def make_champion(con, version: str) -> None:
    """Archive the current champion of the version's model (if any) and crown ``version``."""
    model = get_model(con, version)
    if model is None:
        raise KeyError(f"model version {version} is not registered")
    con.execute("update ml.model_registry set stage = 'archived'"
                " where stage = 'champion' and model_name = ?", [model.model_name])
    con.execute("update ml.model_registry set stage = 'champion' where version = ?", [version])


def rollback(con, version: str, actor: str, reason: str) -> RegisteredModel:
    """Make an earlier version the champion of its model again, recording who and why."""
    target = get_model(con, version)
    if target is None:
        raise KeyError(f"model version {version} is not registered")
    before = current_champion(con, target.model_name)
    make_champion(con, version)
    record_decision(con, action="rollback", challenger=None,
                    champion_before=before.version if before else None, champion_after=version,
                    reason=reason, actor=actor)
    return get_model(con, version)
