"""ml/delay_model, its blocking checks, and ml/model_evaluation, per cutoff week.

The model is trained from its training-set partition, exported to ONNX and stored under a
version named by everything that made it. Two blocking checks guard it (ONNX parity with
scikit-learn, AUC floor) and record their verdict in the registry, which ml/champion reads:
a model that failed a check is never promoted.
"""

import hashlib
import importlib.metadata
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets import modeling
from assets.dbt import DBT_FEATURE_LINEAGE
from assets.model_card import markdown_table, render_model_card
from assets.modeling import (
    FEATURES,
    LABEL,
    MODEL_NAME,
    TrainingSetRef,
    classification_metrics,
    export_onnx,
    onnx_predict_proba,
    read_training_set,
    segment_auc,
    sklearn_predict_proba,
    train_pipeline,
    version_id,
)
from assets.partitions import weekly_partitions
from assets.plots import calibration_plot, line_plot, roc_plot
from assets.training import ML_GROUP, TRAINING_SET_KEY
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.settings import REPO_ROOT
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

DELAY_MODEL_KEY = AssetKey(["ml", "delay_model"])
EVALUATION_KEY = AssetKey(["ml", "model_evaluation"])
LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")
# The code that turns a training set into a model is part of what names a version.
TRAINING_CODE_HASH = hashlib.sha256(Path(modeling.__file__).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelArtifact:
    """What ml/delay_model hands downstream: the version and where its files are."""

    version: str
    directory: str
    cutoff: str


class ModelConfig(Config):
    """HistGradientBoostingClassifier's hyperparameters, set per run (seeded: reproducible)."""

    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    l2_regularization: float = 0.0
    random_state: int = 13


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dbt_code_versions(context: AssetExecutionContext) -> dict[str, str | None]:
    """The code versions (dbt SQL checksums) that produced the stored features, as recorded on
    their latest materializations."""
    versions = {}
    for key in DBT_FEATURE_LINEAGE:
        event = context.instance.get_latest_materialization_event(key)
        tags = event.asset_materialization.tags if event and event.asset_materialization else {}
        versions[key.to_user_string()] = (tags or {}).get("dagster/code_version")
    return versions


@asset(
    key=DELAY_MODEL_KEY,
    group_name=ML_GROUP,
    partitions_def=weekly_partitions,
    ins={"training_set": AssetIn(TRAINING_SET_KEY)},
    pool=WAREHOUSE_POOL,  # registers the version in the warehouse's registry
    retry_policy=WAREHOUSE_RETRY,
    kinds={"sklearn", "onnx"},
    description="HistGradientBoosting pipeline, exported to ONNX, versioned in the model store.",
)
def delay_model(
    context: AssetExecutionContext,
    config: ModelConfig,
    training_set: TrainingSetRef,
    model_store: ModelStore,
    warehouse: DuckDBWarehouse,
) -> Output[ModelArtifact]:
    train, _ = read_training_set(training_set)
    params = config.model_dump()
    context.log.info(f"training on {len(train):,} rows ({training_set.train_start}.."
                     f"{training_set.train_end}) with {params}")
    pipeline = train_pipeline(train, params)
    onnx_bytes = export_onnx(pipeline)

    lineage = {
        "model_name": MODEL_NAME,
        "cutoff": str(training_set.cutoff),
        "train_window": [str(training_set.train_start), str(training_set.train_end)],
        "holdout_window": [str(training_set.holdout_start), str(training_set.holdout_end)],
        "training_rows": training_set.train_rows,
        "training_set_hash": training_set.content_hash,
        "features": FEATURES,
        "training_code": TRAINING_CODE_HASH,
        "hyperparameters": params,
        "dbt_code_versions": dbt_code_versions(context),
        "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
    }
    version = version_id(lineage)
    # The git commit is lineage too, but not part of the version: an unrelated commit must
    # not turn the same model into a new one.
    metadata = {**lineage, "version": version, "git_commit": git_commit(),
                "training_set_dir": training_set.directory, "metrics": {}}
    directory = model_store.save(MODEL_NAME, version, onnx_bytes, pipeline, metadata)
    with warehouse.transaction() as con:
        registry.register_candidate(
            con, version=version, model_name=MODEL_NAME, cutoff=training_set.cutoff,
            artifact_dir=str(directory), windows=training_set.windows,
            training_set_hash=training_set.content_hash, lineage=metadata,
        )
    context.log.info(f"model version {version} saved to {directory}")
    return Output(
        ModelArtifact(version=version, directory=str(directory), cutoff=str(training_set.cutoff)),
        metadata={
            "version": version,
            "path": MetadataValue.path(str(directory / "model.onnx")),
            "training_set_hash": training_set.content_hash,
            "training_rows": training_set.train_rows,
            "hyperparameters": MetadataValue.json(params),
            "lineage": MetadataValue.json(metadata),
        },
    )


# --- blocking checks -------------------------------------------------------------------------

def onnx_parity(store: ModelStore, artifact: ModelArtifact, holdout) -> float:
    """Max |P_onnx - P_sklearn| over the holdout rows."""
    directory = Path(artifact.directory)
    onnx_p = onnx_predict_proba(store.onnx_session(directory), holdout)
    sklearn_p = sklearn_predict_proba(store.sklearn_pipeline(directory), holdout)
    return float(np.max(np.abs(onnx_p - sklearn_p)))


# Both checks judge one model partition on its holdout, block what follows it in the run, and
# write their verdict into the registry (hence the warehouse pool).
BLOCKING_MODEL_CHECK = {
    "asset": DELAY_MODEL_KEY,
    "blocking": True,
    "partitions_def": weekly_partitions,
    "additional_ins": {"training_set": AssetIn(TRAINING_SET_KEY)},
    "pool": WAREHOUSE_POOL,
    "retry_policy": WAREHOUSE_RETRY,
}


def _record_check(warehouse, version: str, name: str, passed: bool, value: float) -> None:
    with warehouse.transaction() as con:
        registry.record_check(con, version, name, passed, value)


@asset_check(
    **BLOCKING_MODEL_CHECK,
    description="ONNX Runtime's probabilities equal scikit-learn's on the holdout.",
)
def onnx_matches_sklearn(
    delay_model: ModelArtifact, training_set: TrainingSetRef, model_store: ModelStore,
    model_policy: ModelPolicy, warehouse: DuckDBWarehouse,
) -> AssetCheckResult:
    _, holdout = read_training_set(training_set)
    max_diff = onnx_parity(model_store, delay_model, holdout)
    passed = max_diff <= model_policy.parity_tolerance
    _record_check(warehouse, delay_model.version, "onnx_matches_sklearn", passed, max_diff)
    return AssetCheckResult(
        passed=passed, severity=AssetCheckSeverity.ERROR,
        metadata={"max_abs_diff": max_diff, "tolerance": model_policy.parity_tolerance,
                  "rows": len(holdout), "version": delay_model.version},
    )


@asset_check(
    **BLOCKING_MODEL_CHECK,
    description="Holdout AUC (of the ONNX model) is at least the policy's floor.",
)
def auc_above_floor(
    delay_model: ModelArtifact, training_set: TrainingSetRef, model_store: ModelStore,
    model_policy: ModelPolicy, warehouse: DuckDBWarehouse,
) -> AssetCheckResult:
    _, holdout = read_training_set(training_set)
    p = onnx_predict_proba(model_store.onnx_session(Path(delay_model.directory)), holdout)
    auc = classification_metrics(holdout[LABEL], p, model_policy.decision_threshold)["auc"]
    passed = auc >= model_policy.auc_floor
    _record_check(warehouse, delay_model.version, "auc_above_floor", passed, auc)
    return AssetCheckResult(
        passed=passed, severity=AssetCheckSeverity.ERROR,
        metadata={"auc": auc, "floor": model_policy.auc_floor, "version": delay_model.version},
    )


# --- evaluation --------------------------------------------------------------------------------

@asset(
    key=EVALUATION_KEY,
    group_name=ML_GROUP,
    partitions_def=weekly_partitions,
    ins={"delay_model": AssetIn(DELAY_MODEL_KEY), "training_set": AssetIn(TRAINING_SET_KEY)},
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"onnx"},
    description="Holdout metrics, segments, ROC and calibration of the served (ONNX) model.",
)
def model_evaluation(
    context: AssetExecutionContext,
    delay_model: ModelArtifact,
    training_set: TrainingSetRef,
    model_store: ModelStore,
    model_policy: ModelPolicy,
    warehouse: DuckDBWarehouse,
):
    _, holdout = read_training_set(training_set)
    directory = Path(delay_model.directory)
    probabilities = onnx_predict_proba(model_store.onnx_session(directory), holdout)
    labels = holdout[LABEL].astype(int).to_numpy()
    metrics = classification_metrics(labels, probabilities, model_policy.decision_threshold)
    metrics["holdout_window"] = f"{training_set.holdout_start}..{training_set.holdout_end}"
    segments = pd.concat(
        [segment_auc(holdout, probabilities, column) for column in ("carrier", "origin")],
        ignore_index=True,
    )

    with warehouse.transaction() as con:
        registry.record_metrics(con, delay_model.version, metrics)
        history = registry.evaluated_models(con)
    model_metadata = {**model_store.read_metadata(directory), "metrics": metrics}
    model_store.write_metadata(directory, model_metadata)
    card = render_model_card(model_metadata, segments)
    (directory / "model_card.md").write_text(card)

    context.log.info(f"{delay_model.version}: holdout AUC {metrics['auc']:.4f} on "
                     f"{metrics['rows']:,} rows")
    evaluation = {
        "version": delay_model.version,
        "metrics": metrics,
        "segments": segments.to_dict(orient="records"),
    }
    return Output(
        evaluation,
        metadata={
            "version": delay_model.version,
            **{name: metrics[name] for name in ("auc", "log_loss", "brier", "precision", "recall")},
            "threshold": model_policy.decision_threshold,
            "holdout_rows": metrics["rows"],
            "segments": MetadataValue.md(markdown_table(segments)),
            "roc": roc_plot(labels, probabilities, f"ROC, holdout of {training_set.cutoff}"),
            "calibration": calibration_plot(labels, probabilities, "calibration, holdout"),
            "auc_by_cutoff": line_plot(
                [m.cutoff for m in history], [m.metrics["auc"] for m in history],
                "holdout AUC by cutoff week (walk-forward)", "AUC",
            ),
            "model_card": MetadataValue.md(card),
        },
    )
