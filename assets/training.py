"""ml/training_set: per cutoff week, the labeled flights a model learns from and is judged on.

Training rows are the labeled days known at the cutoff's prediction time (all of them, or a
trailing window); the holdout is the labeled days from the cutoff on (14 by default, or every
labeled day). Only days whose labels have arrived are used. Both frames are written as Parquet
into a folder named by their content hash (core/training_sets.py).
"""

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

from assets.failures import permanent_failure
from assets.keys import FEATURES, LABELS, ML_GROUP, TRAINING_SET
from assets.partitions import weekly_partitions
from core.feature_table import LABEL, LABEL_DEFINITION, labeled_days, read_labeled
from core.training_sets import (
    TrainingSetRef,
    TrainingWindowError,
    check_trainable,
    frame_hash,
    plan_windows,
    write_training_set,
)
from resources.model_store import ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse


class TrainingWindowConfig(Config):
    train_days: int | None = Field(
        default=None, description="Days to train on, ending at the cutoff's prediction time;"
                                  " null: every labeled day before.")
    holdout_days: int | None = Field(
        default=14, description="Days from the cutoff on to hold out; null: every labeled day.")


def build_training_set(prediction_lead_days: int):
    @asset(
        key=TRAINING_SET,
        group_name=ML_GROUP,
        partitions_def=weekly_partitions,
        # A training set may read any earlier day, not only its own week.
        deps=[AssetDep(FEATURES, partition_mapping=AllPartitionMapping()),
              AssetDep(LABELS, partition_mapping=AllPartitionMapping())],
        pool=WAREHOUSE_POOL,
        retry_policy=WAREHOUSE_RETRY,
        kinds={"parquet"},
        description="Labeled flights known at the cutoff's prediction time to train on, and"
                    " labeled days from the cutoff on to hold out.",
    )
    def training_set(
        context: AssetExecutionContext,
        config: TrainingWindowConfig,
        warehouse: DuckDBWarehouse,
        model_store: ModelStore,
    ) -> Output[TrainingSetRef]:
        cutoff = context.partition_time_window.start.date()
        with warehouse.connect(read_only=True) as con:
            first_labeled, last_labeled = labeled_days(con)
            if first_labeled is None:
                raise permanent_failure("no labels yet: materialize labels/flight_labels first")
            windows = plan_windows(cutoff, first_labeled, last_labeled, prediction_lead_days,
                                   config.train_days, config.holdout_days)
            # With the hindsight weather: never a model input (the model takes the declared
            # inputs only), it serves the evaluation's perfect-forecast ablation.
            train = read_labeled(con, windows.train_start, windows.train_end, hindsight=True)
            holdout = read_labeled(con, windows.holdout_start, windows.holdout_end, hindsight=True)
        try:
            check_trainable(train, LABEL, "training", windows.train_start, windows.train_end)
            check_trainable(holdout, LABEL, "holdout", windows.holdout_start, windows.holdout_end)
        except TrainingWindowError as error:
            raise permanent_failure(str(error)) from error

        content_hash = frame_hash({"train": train, "holdout": holdout})
        directory = model_store.training_set_dir(cutoff, content_hash)
        write_training_set(directory, train, holdout)
        lineage = {
            "prediction_time": f"the end of day D - {prediction_lead_days} (local time)",
            "prediction_lead_days": prediction_lead_days,
            "label": LABEL, "label_definition": LABEL_DEFINITION,
            "labeled_days": [str(first_labeled), str(last_labeled)],
        }
        context.log.info(
            f"cutoff {cutoff}: {len(train):,} training rows {windows.train_start}.."
            f"{windows.train_end}, {len(holdout):,} holdout rows {windows.holdout_start}.."
            f"{windows.holdout_end}")
        ref = TrainingSetRef(cutoff=cutoff, directory=str(directory), windows=windows,
                             train_rows=len(train), holdout_rows=len(holdout),
                             content_hash=content_hash, lineage=lineage)
        return Output(ref, metadata={
            "path": MetadataValue.path(str(directory)),
            "content_hash": content_hash,
            "train_window": f"{windows.train_start}..{windows.train_end}",
            "holdout_window": f"{windows.holdout_start}..{windows.holdout_end}",
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "train_positive_rate": round(float(train[LABEL].mean()), 4),
            "holdout_positive_rate": round(float(holdout[LABEL].mean()), 4),
            "config": MetadataValue.json(config.model_dump()),
            "lineage": MetadataValue.json(lineage),
        })

    return training_set
