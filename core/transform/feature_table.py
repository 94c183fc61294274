"""The one place that reads the feature table and the labels (built by dbt: models/features,
models/labels). Everything that needs model inputs, with or without labels, comes through here,
and so does what was served against its labels.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa

from core.tables import table_name

FEATURES_SCHEMA = "features"
FEATURES_TABLE = "features.flight_features"
LABELS_TABLE = "labels.flight_labels"
HINDSIGHT_WEATHER_TABLE = "labels.weather_at_departure"
# Known only after the day (models/labels/weather_at_departure.sql): never a model input.
HINDSIGHT_WEATHER_COLUMNS = ["temp_at_departure", "wind_speed_at_departure",
                             "precip_at_departure", "visib_at_departure"]
PREDICTIONS_SUFFIX = "_predictions"
SHADOW_PREDICTIONS_SUFFIX = "_shadow_predictions"  # what a challenger would have served


def predictions_table(model_name: str) -> str:
    """Where ml/<model>/predictions serves its rows."""
    return table_name(["ml", model_name, "predictions"])


def read_features(con: duckdb.DuckDBPyConnection, first: date, last: date,
                  feature_model: str = "flight_features") -> pd.DataFrame:
    """Every scheduled flight of days first..last with its model inputs, labeled or not."""
    return con.execute(
        f"select * from {FEATURES_SCHEMA}.{feature_model} where flight_date between ? and ?"
        " order by flight_date, flight_id", [first, last]).df()


def first_feature_day(con: duckdb.DuckDBPyConnection,
                      feature_model: str = "flight_features") -> date | None:
    return con.execute(f"select min(flight_date) from {FEATURES_SCHEMA}.{feature_model}"
                       ).fetchone()[0]


def labeled_query(first: date, last: date, label: str, feature_model: str = "flight_features",
                  hindsight: bool = False) -> tuple[str, list]:
    """The query of the flights of days first..last whose ``label`` has arrived, with their
    inputs and label (and, with ``hindsight``, the weather at departure: never a model input),
    in a stable order; and its parameters."""
    hindsight_join = (f" left join {HINDSIGHT_WEATHER_TABLE} w using (flight_id, flight_date)"
                      if hindsight else "")
    hindsight_columns = ", w.* exclude (flight_id, flight_date)" if hindsight else ""
    # A row's identity first, whichever engine built the table (Spark keeps a table's day
    # column last): the same rows make the same training set, to the byte.
    return (f"select f.flight_id, f.flight_date, f.* exclude (flight_id, flight_date),"
            f" l.{label}{hindsight_columns} from {FEATURES_SCHEMA}.{feature_model} f"
            f" join {LABELS_TABLE} l using (flight_id, flight_date){hindsight_join}"
            f" where f.flight_date between ? and ? and l.{label} is not null"
            " order by f.flight_date, f.flight_id", [first, last])


def read_labeled(con: duckdb.DuckDBPyConnection, first: date, last: date, label: str,
                 feature_model: str = "flight_features", hindsight: bool = False) -> pd.DataFrame:
    """The rows of ``labeled_query`` as one data frame."""
    sql, params = labeled_query(first, last, label, feature_model, hindsight)
    return con.execute(sql, params).df()


def labeled_batches(con: duckdb.DuckDBPyConnection, first: date, last: date, label: str,
                    feature_model: str = "flight_features", hindsight: bool = False,
                    batch_rows: int = 100_000) -> pa.RecordBatchReader:
    """The rows of ``labeled_query`` as Arrow record batches, read as they are consumed: years
    of flights never sit in memory at once."""
    sql, params = labeled_query(first, last, label, feature_model, hindsight)
    return con.sql(sql, params=params).to_arrow_reader(batch_rows)


def labeled_days(con: duckdb.DuckDBPyConnection, label: str) -> tuple[date | None, date | None]:
    """The first and last day with labels."""
    return con.execute(
        f"select min(flight_date), max(flight_date) from {LABELS_TABLE}"
        f" where {label} is not null").fetchall()[0]


def read_served_labeled(con: duckdb.DuckDBPyConnection, model_name: str, label: str,
                        last: date, first: date | None = None,
                        version: str | None = None, labeled_only: bool = True) -> pd.DataFrame:
    """What ``model_name`` served for days first..last (every version, or one) and the labels
    that landed for it: flight_date, model_version, prediction, in_sample, label (with
    ``labeled_only=False``, unlabeled rows too, their label null)."""
    where = ["p.flight_date <= ?"]
    params: list = [last]
    if labeled_only:
        where.append(f"l.{label} is not null")
    if first is not None:
        where.append("p.flight_date >= ?")
        params.append(first)
    if version is not None:
        where.append("p.model_version = ?")
        params.append(version)
    return con.execute(
        f"select p.flight_date, p.model_version, p.prediction, p.in_sample, l.{label} as label"
        f" from {predictions_table(model_name)} p"
        f" left join {LABELS_TABLE} l using (flight_id, flight_date)"
        f" where {' and '.join(where)}",
        params).df()
