"""The warehouse's tables as the Python side names and finds them: one place for the rule
that maps an asset key to its table, and for asking which tables exist."""

from __future__ import annotations


def table_name(path: list[str]) -> str:
    """The warehouse table behind an asset key's path: schema, then the rest joined by "_"
    (raw/schedule is raw.schedule, ml/not_on_time/predictions is ml.not_on_time_predictions)."""
    return f"{path[0]}.{'_'.join(path[1:])}"


def tables_in(con, schema: str, catalog: str | None = None) -> set[str]:
    """The names of the tables (and views) in ``schema`` (of the attached ``catalog``)."""
    # fetchall: DuckDB keeps a result open after fetchone(), and register() then refuses to run
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?"
        + (" and table_catalog = ?" if catalog else ""),
        [schema, *([catalog] if catalog else [])]).fetchall()
    return {name for (name,) in rows}


def table_exists(con, qualified: str) -> bool:
    """Whether ``schema.table`` exists. Readers may hold a read-only connection, so they ask
    instead of creating."""
    schema, table = qualified.split(".")
    return table in tables_in(con, schema)
