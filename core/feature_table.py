"""The one place that reads the feature table and the labels (built by dbt: models/features,
models/labels). Everything that needs model inputs, with or without labels, comes through here,
and so does what was served against its labels.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

FEATURES_TABLE = "features.flight_features"
LABELS_TABLE = "labels.flight_labels"
HINDSIGHT_WEATHER_TABLE = "labels.weather_at_departure"
PREDICTIONS_TABLE = "ml.predictions"  # written by ml/predictions (assets/scoring.py)
# Known only after the day (models/labels/weather_at_departure.sql): never a model input.
HINDSIGHT_WEATHER_COLUMNS = ["temp_at_departure", "wind_speed_at_departure",
                             "precip_at_departure", "visib_at_departure"]
LABEL = "is_late"
LABEL_DEFINITION = ("not on time: an arrival more than 15 minutes late, or cancelled, or "
                    "diverted (dbt var delay_threshold_minutes; models/labels/flight_labels.sql)")


def read_features(con: duckdb.DuckDBPyConnection, first: date, last: date) -> pd.DataFrame:
    """Every scheduled flight of days first..last with its model inputs, labeled or not."""
    return con.execute(
        f"select * from {FEATURES_TABLE} where flight_date between ? and ?"
        " order by flight_date, flight_id", [first, last]).df()


def read_labeled(con: duckdb.DuckDBPyConnection, first: date, last: date,
                 hindsight: bool = False) -> pd.DataFrame:
    """The flights of days first..last whose label has arrived, with their inputs and label
    (and, with ``hindsight``, the weather at departure: never a model input)."""
    hindsight_join = (f" left join {HINDSIGHT_WEATHER_TABLE} w using (flight_id, flight_date)"
                      if hindsight else "")
    hindsight_columns = ", w.* exclude (flight_id, flight_date)" if hindsight else ""
    return con.execute(
        f"select f.*, l.{LABEL}{hindsight_columns} from {FEATURES_TABLE} f"
        f" join {LABELS_TABLE} l using (flight_id, flight_date){hindsight_join}"
        f" where f.flight_date between ? and ? and l.{LABEL} is not null"
        " order by f.flight_date, f.flight_id", [first, last]).df()


def labeled_days(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """The first and last day with labels."""
    return con.execute(
        f"select min(flight_date), max(flight_date) from {LABELS_TABLE}"
        f" where {LABEL} is not null").fetchall()[0]


def read_served_labeled(con: duckdb.DuckDBPyConnection, version: str, first: date,
                        last: date) -> pd.DataFrame:
    """What ``version`` served for days first..last and the labels that landed for it: out of
    sample only (the days it trained on would flatter it)."""
    return con.execute(
        f"select p.flight_date, p.p_late, l.{LABEL} from {PREDICTIONS_TABLE} p"
        f" join {LABELS_TABLE} l using (flight_id, flight_date)"
        f" where p.flight_date between ? and ? and p.model_version = ? and not p.in_sample"
        f" and l.{LABEL} is not null", [first, last, version]).df()
