"""ml/training_set: per cutoff week, the labeled feature rows before the cutoff and after it.

Training rows are the days before the cutoff (all of them, or a trailing window); the holdout
is the days from the cutoff on (14 by default, or every labeled day). Both are written as
Parquet into a folder named by their content hash, so a materialized training set is never
overwritten and a model can name exactly the data it learned from.
"""

from datetime import date, timedelta

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from assets.dbt import FEATURES_KEY
from assets.failures import permanent_failure
from assets.modeling import (
    LABEL,
    TrainingSetRef,
    TrainingWindowError,
    check_trainable,
    frame_hash,
    write_training_set,
)
from assets.partitions import weekly_partitions
from resources.model_store import ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

ML_GROUP = "ml"
TRAINING_SET_KEY = ["ml", "training_set"]


class TrainingWindowConfig(Config):
    train_days: int | None = Field(
        default=None, description="Days before the cutoff to train on; null: every earlier day."
    )
    holdout_days: int | None = Field(
        default=14, description="Days from the cutoff on to hold out; null: every labeled day."
    )


def plan_windows(
    cutoff: date, first_labeled: date, last_labeled: date, config: TrainingWindowConfig
) -> tuple[date, date, date, date]:
    """(train_start, train_end, holdout_start, holdout_end), all inclusive."""
    train_start = first_labeled
    if config.train_days is not None:
        train_start = max(first_labeled, cutoff - timedelta(days=config.train_days))
    holdout_end = last_labeled
    if config.holdout_days is not None:
        holdout_end = min(last_labeled, cutoff + timedelta(days=config.holdout_days - 1))
    return train_start, cutoff - timedelta(days=1), cutoff, holdout_end


def _read_features(warehouse: DuckDBWarehouse, first: date, last: date) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as con:
        return con.execute(
            "select * from features.flight_features where flight_date between ? and ?"
            " order by flight_date, flight_id",
            [first, last],
        ).df()


def _labeled_range(warehouse: DuckDBWarehouse) -> tuple[date, date]:
    with warehouse.connect(read_only=True) as con:
        first, last = con.execute(
            "select min(flight_date), max(flight_date) from features.flight_features"
        ).fetchone()
    if first is None:
        raise permanent_failure("features.flight_features is empty: materialize features first")
    return first, last


@asset(
    key=TRAINING_SET_KEY,
    group_name=ML_GROUP,
    partitions_def=weekly_partitions,
    # A training set may read any earlier day, not only its own week.
    deps=[AssetDep(FEATURES_KEY, partition_mapping=AllPartitionMapping())],
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"parquet"},
    description="Training rows before the cutoff week's start, holdout rows from it on.",
)
def training_set(
    context: AssetExecutionContext,
    config: TrainingWindowConfig,
    warehouse: DuckDBWarehouse,
    model_store: ModelStore,
) -> Output[TrainingSetRef]:
    cutoff = context.partition_time_window.start.date()
    first_labeled, last_labeled = _labeled_range(warehouse)
    train_start, train_end, holdout_start, holdout_end = plan_windows(
        cutoff, first_labeled, last_labeled, config
    )
    train = _read_features(warehouse, train_start, train_end)
    holdout = _read_features(warehouse, holdout_start, holdout_end)
    try:
        check_trainable(train, "training", train_start, train_end)
        check_trainable(holdout, "holdout", holdout_start, holdout_end)
    except TrainingWindowError as error:
        raise permanent_failure(str(error)) from error

    content_hash = frame_hash({"train": train, "holdout": holdout})
    directory = model_store.training_set_dir(cutoff, content_hash)
    write_training_set(directory, train, holdout)
    context.log.info(
        f"cutoff {cutoff}: {len(train):,} training rows {train_start}..{train_end}, "
        f"{len(holdout):,} holdout rows {holdout_start}..{holdout_end}"
    )
    ref = TrainingSetRef(
        cutoff=cutoff, directory=str(directory), train_start=train_start, train_end=train_end,
        holdout_start=holdout_start, holdout_end=holdout_end, train_rows=len(train),
        holdout_rows=len(holdout), content_hash=content_hash,
    )
    return Output(
        ref,
        metadata={
            "path": MetadataValue.path(str(directory)),
            "content_hash": content_hash,
            "train_window": f"{train_start}..{train_end}",
            "holdout_window": f"{holdout_start}..{holdout_end}",
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "train_delay_rate": round(float(train[LABEL].mean()), 4),
            "holdout_delay_rate": round(float(holdout[LABEL].mean()), 4),
            "config": MetadataValue.json(config.model_dump()),
        },
    )
