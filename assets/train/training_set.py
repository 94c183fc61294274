"""ml/<model>/training_set: per cutoff week, the labeled flights a model learns from and is
judged on.

Training rows are the labeled days known at the cutoff's prediction time (all of them, or a
trailing window); the holdout is the labeled days from the cutoff on (the spec's holdout_days
by default, or every labeled day). Only flights whose label has arrived are used. Both frames
are streamed into Parquet, in a folder named by their content hash (core/train/training_sets.py).
"""

import functools

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
    asset,
)
from dagster_dbt import DbtCliResource
from pydantic import Field

from assets.failures import permanent_failure
from assets.keys import FEATURES, LABELS, ML_GROUP, ModelKeys
from assets.partitions import weekly_partitions
from assets.policies import WAREHOUSE_STEP
from assets.transform.point_in_time import (
    PointInTimeAuditor,
    audit_for_training,
    evidence_for_people,
)
from core.train.model_spec import ModelSpec
from core.train.training_sets import (
    READ_MEMORY_LIMIT,
    TrainingSetRef,
    TrainingWindowError,
    check_trainable,
    plan_windows,
    write_training_set,
)
from core.transform.feature_table import labeled_batches, labeled_days
from core.transform.point_in_time import ROWS
from resources.model_store import ModelStore
from resources.warehouse import DuckDBWarehouse


def build_training_set(spec: ModelSpec, prediction_lead_days: int,
                       auditor: PointInTimeAuditor):
    keys = ModelKeys(spec.name)

    class TrainingWindowConfig(Config):
        train_days: int | None = Field(
            default=spec.train_days,
            description="Days to train on, ending at the cutoff's prediction time; null: every"
                        " labeled day before.")
        holdout_days: int | None = Field(
            default=spec.holdout_days,
            description="Days from the cutoff on to hold out; null: every labeled day.")

    @asset(
        key=keys.training_set,
        group_name=ML_GROUP,
        partitions_def=weekly_partitions,
        # A training set may read any earlier day, not only its own week.
        deps=[AssetDep(FEATURES, partition_mapping=AllPartitionMapping()),
              AssetDep(LABELS, partition_mapping=AllPartitionMapping())],
        **WAREHOUSE_STEP,
        kinds={"parquet"},
        description=f"{spec.name}: labeled flights known at the cutoff's prediction time to"
                    " train on, and labeled days from the cutoff on to hold out.",
    )
    def training_set(
        context: AssetExecutionContext,
        config: TrainingWindowConfig,
        warehouse: DuckDBWarehouse,
        model_store: ModelStore,
        dbt: DbtCliResource,
    ) -> Output[TrainingSetRef]:
        cutoff = context.partition_time_window.start.date()
        with warehouse.connect(read_only=True) as con:
            first_labeled, last_labeled = labeled_days(con, spec.label)
        if first_labeled is None:
            raise permanent_failure("no labels yet: materialize labels/flight_labels first")
        windows = plan_windows(cutoff, first_labeled, last_labeled, prediction_lead_days,
                               config.train_days, config.holdout_days)
        # No model learns from an input that was not known at the prediction time.
        audit = audit_for_training(auditor, warehouse, dbt, windows.train_start,
                                   windows.train_end, context.log.info)
        leaking = [column for column in audit.failed_columns
                   if column in spec.inputs.columns or column == ROWS]
        if audit.problems or leaking:
            raise permanent_failure(
                f"{spec.name}'s inputs are not all known at the prediction time, so no training"
                f" set is made: {audit.describe()}")
        if not audit.passed:  # columns this model does not read
            context.log.warning(f"not model inputs of {spec.name}, but not known at the"
                                f" prediction time either: {audit.describe()}")
        if audit.stale:
            context.log.warning(f"stored features older than the data or SQL in now (no leak:"
                                f" rebuild them to train on what is known): {audit.evidence()}")
        windows_of = {"train": (windows.train_start, windows.train_end),
                      "holdout": (windows.holdout_start, windows.holdout_end)}

        def trainable(stats) -> None:
            try:
                check_trainable(stats["train"], spec, "training", *windows_of["train"])
                check_trainable(stats["holdout"], spec, "holdout", *windows_of["holdout"])
            except TrainingWindowError as error:
                raise permanent_failure(str(error)) from error

        with warehouse.connect(read_only=True) as con:
            con.execute(f"set memory_limit = '{READ_MEMORY_LIMIT}'")
            # With the hindsight weather: never a model input (the model takes the declared
            # inputs only), it serves the evaluation's perfect-forecast ablation.
            frames = {name: functools.partial(labeled_batches, con, first, last, spec.label,
                                              spec.feature_model, hindsight=True)
                      for name, (first, last) in windows_of.items()}
            directory, content_hash, stats, file_digests = write_training_set(
                model_store.training_sets_dir(spec.name, cutoff), frames, spec.label, trainable)
        train, holdout = stats["train"], stats["holdout"]
        lineage = {
            "prediction_time": f"the end of day D - {prediction_lead_days} (local time)",
            "prediction_lead_days": prediction_lead_days,
            **spec.lineage(),
            "labeled_days": [str(first_labeled), str(last_labeled)],
            "point_in_time_audit": evidence_for_people(audit),
        }
        context.log.info(
            f"cutoff {cutoff}: {train.rows:,} training rows {windows.train_start}.."
            f"{windows.train_end}, {holdout.rows:,} holdout rows {windows.holdout_start}.."
            f"{windows.holdout_end}")
        ref = TrainingSetRef(cutoff=cutoff, directory=str(directory), windows=windows,
                             train_rows=train.rows, holdout_rows=holdout.rows,
                             content_hash=content_hash, lineage=lineage,
                             file_digests=file_digests)
        return Output(ref, metadata={
            "path": MetadataValue.path(str(directory)),
            "content_hash": content_hash,
            "train_window": f"{windows.train_start}..{windows.train_end}",
            "holdout_window": f"{windows.holdout_start}..{windows.holdout_end}",
            "train_rows": train.rows,
            "holdout_rows": holdout.rows,
            "train_label_mean": round(train.label_mean, 4),
            "holdout_label_mean": round(holdout.label_mean, 4),
            "config": MetadataValue.json(config.model_dump()),
            "lineage": MetadataValue.json(lineage),
        })

    return training_set
