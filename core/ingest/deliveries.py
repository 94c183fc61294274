"""What a delivery may do to what is already stored: the rules between feeds and days.

A file that meets its contract (core/ingest/validation.py) can still be wrong for the warehouse it
lands in. Checked inside the ingest transaction, before anything is written:

- a day's outcomes land after its schedule, and only for flights that were scheduled;
- a day's schedule, once predictions were served for that day, is frozen: a different schedule
  would silently change what the served predictions were about, so it is refused (an identical
  re-delivery is a no-op); before that, a new schedule replaces the old one, and says so.

Every delivery's outcome is a row of ``raw.ingest_events`` (new, identical, replaced).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from core.ingest.contract import FLIGHT_KEY, LandingFileError
from core.tables import table_exists, tables_in
from core.transform.feature_table import PREDICTIONS_SUFFIX, SHADOW_PREDICTIONS_SUFFIX

INGEST_EVENTS_DDL = """
create table if not exists raw.ingest_events (
    dataset varchar not null,
    partition_date date not null,
    sha256 varchar not null,
    previous_sha256 varchar,
    row_count bigint not null,
    decision varchar not null,  -- new | identical | replaced
    reason varchar not null,
    ingested_at timestamp not null default current_timestamp
)
"""


class DeliveryOutOfOrder(ValueError):
    """A file arrived before what it depends on (outcomes before their schedule). The file is
    fine: deliver what it needs first, then ingest it again."""


def check_outcomes_against_schedule(con: duckdb.DuckDBPyConnection, incoming: pa.Table) -> None:
    """Every outcome day has a stored schedule, and every outcome is a scheduled flight."""
    con.register("incoming_outcomes", incoming)
    try:
        days = [day for (day,) in con.execute(
            "select distinct partition_date from incoming_outcomes order by 1").fetchall()]
        scheduled = set()
        if table_exists(con, "raw.schedule"):
            scheduled = {day for (day,) in con.execute(
                "select distinct partition_date from raw.schedule").fetchall()}
        missing = [day for day in days if day not in scheduled]
        if missing:
            raise DeliveryOutOfOrder(
                f"no schedule has landed for {', '.join(map(str, missing))}: a day's outcomes"
                " are checked against its schedule, so they are ingested after it")
        key = ", ".join(FLIGHT_KEY)
        unknown = next(iter(con.execute(  # fetchall: unregister() refuses an open result
            f"select source_file, source_line, {key} from incoming_outcomes o"
            f" anti join raw.schedule s using (partition_date, {key})"
            " order by source_file, source_line limit 1").fetchall()), None)
    finally:
        con.unregister("incoming_outcomes")
    if unknown:
        path, line, *values = unknown
        raise LandingFileError(
            Path(path), f"an outcome for a flight that was never scheduled: ({key}) ="
            f" {tuple(values)} is not in the schedule of {Path(path).stem}",
            line=line, column=key)


def served_days(con: duckdb.DuckDBPyConnection, days: list[date]) -> dict[date, str]:
    """{day: what was served} for the days among ``days`` that any model served predictions
    for (every ml.<model>_predictions table; a challenger's shadow predictions were never
    served)."""
    tables = [f"ml.{name}" for name in sorted(tables_in(con, "ml"))
              if name.endswith(PREDICTIONS_SUFFIX)
              and not name.endswith(SHADOW_PREDICTIONS_SUFFIX)]
    if not days or not tables:
        return {}
    union = " union all ".join(
        f"select flight_date, model_version, served_at from {table}" for table in tables)
    rows = con.execute(
        f"select flight_date, count(*), string_agg(distinct model_version, ', '), min(served_at)"
        f" from ({union}) where flight_date in (select unnest(?)) group by 1 order by 1",
        [days]).fetchall()
    return {day: f"{count:,} predictions by {versions}, served at {served_at:%Y-%m-%d %H:%M} UTC"
            for day, count, versions, served_at in rows}


def plan_schedule_delivery(
    files: dict[date, Path], new_hashes: dict[date, str], stored_hashes: dict[date, str],
    served: dict[date, str],
) -> dict[date, tuple[str, str]]:
    """{day: (decision, reason)} for each delivered schedule day; raises LandingFileError for a
    changed schedule of a day whose predictions were served."""
    plan = {}
    for day, path in sorted(files.items()):
        before, after = stored_hashes.get(day), new_hashes[day]
        if before is None:
            plan[day] = ("new", "first delivery of the day")
        elif before == after:
            plan[day] = ("identical", "the same file again: nothing changes")
        elif day in served:
            raise LandingFileError(
                path, f"the schedule of {day} changed after its predictions were served"
                f" ({served[day]}): the served predictions stand, so the new schedule is"
                " refused")
        else:
            plan[day] = ("replaced", f"replaces the schedule delivered before (sha256"
                                     f" {before[:12]}); no prediction was served for the day")
    return plan
