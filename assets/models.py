"""ml/delay_model and its blocking checks, per cutoff week.

The model is trained on the inputs the feature model declares (its dbt YAML), exported to ONNX
and stored under a version named by what made it: the training rows, the inputs, the training
code and the parameters. Two blocking checks guard it (ONNX parity with scikit-learn, AUC
floor) and record their verdict in the registry, which ml/champion reads: a model that failed a
check is never promoted.
"""

import hashlib
import importlib.metadata
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    Config,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

import core.modeling
from assets.keys import FEATURE_LINEAGE, ML_GROUP, MODEL, TRAINING_SET
from assets.partitions import weekly_partitions
from core.evaluation import classification_metrics
from core.feature_table import LABEL
from core.model_inputs import ModelInputs, declared_inputs
from core.modeling import (
    export_onnx,
    onnx_predict_proba,
    sklearn_predict_proba,
    train_pipeline,
    version_id,
)
from core.training_sets import TrainingSetRef, frame_hash, read_training_set
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.settings import REPO_ROOT
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

MODEL_NAME = "delay_model"
LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")
# The code that turns a training set into a model is part of what names a version.
TRAINING_CODE_HASH = hashlib.sha256(Path(core.modeling.__file__).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelArtifact:
    """What ml/delay_model hands downstream: the version, where its files are, its inputs."""

    version: str
    directory: str
    cutoff: str
    inputs: ModelInputs


class ModelConfig(Config):
    """HistGradientBoostingClassifier's hyperparameters, set per run (seeded: reproducible)."""

    max_iter: int = 300
    learning_rate: float = 0.05
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
    for key in FEATURE_LINEAGE:
        event = context.instance.get_latest_materialization_event(key)
        tags = event.asset_materialization.tags if event and event.asset_materialization else {}
        versions[key.to_user_string()] = (tags or {}).get("dagster/code_version")
    return versions


def build_delay_model(manifest_path: Path):
    @asset(
        key=MODEL,
        group_name=ML_GROUP,
        partitions_def=weekly_partitions,
        ins={"training_set": AssetIn(TRAINING_SET)},
        pool=WAREHOUSE_POOL,  # registers the version in the warehouse's registry
        retry_policy=WAREHOUSE_RETRY,
        kinds={"sklearn", "onnx"},
        description="HistGradientBoosting on the declared inputs, exported to ONNX, versioned.",
    )
    def delay_model(
        context: AssetExecutionContext,
        config: ModelConfig,
        training_set: TrainingSetRef,
        model_store: ModelStore,
        warehouse: DuckDBWarehouse,
    ) -> Output[ModelArtifact]:
        inputs = declared_inputs(manifest_path)
        train, _ = read_training_set(training_set)
        params = config.model_dump()
        windows = training_set.windows
        context.log.info(f"training on {len(train):,} rows ({windows.train_start}.."
                         f"{windows.train_end}), {len(inputs.columns)} inputs, {params}")
        pipeline = train_pipeline(train, LABEL, params, inputs)
        onnx_bytes = export_onnx(pipeline, inputs, MODEL_NAME)

        # What makes the model, and only that, names the version.
        made_of = {
            "model_name": MODEL_NAME,
            "training_rows_hash": frame_hash({"train": train[[*inputs.columns, LABEL]]}),
            "inputs": inputs.to_dict(),
            "label": LABEL,
            "training_code": TRAINING_CODE_HASH,
            "hyperparameters": params,
            "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
        }
        version = version_id(made_of)
        # The rest is lineage, not identity: an unrelated commit or a longer holdout must not
        # turn the same model into a new one.
        metadata = {
            **made_of, **training_set.lineage, "version": version,
            "cutoff": str(training_set.cutoff),
            "train_window": [str(windows.train_start), str(windows.train_end)],
            "holdout_window": [str(windows.holdout_start), str(windows.holdout_end)],
            "training_rows": training_set.train_rows,
            "training_set_hash": training_set.content_hash,
            "training_set_dir": training_set.directory,
            "dbt_code_versions": dbt_code_versions(context), "git_commit": git_commit(),
        }
        directory = model_store.save(MODEL_NAME, version, onnx_bytes, pipeline, metadata)
        with warehouse.transaction() as con:
            registry.register_candidate(
                con, version=version, model_name=MODEL_NAME, cutoff=training_set.cutoff,
                artifact_dir=str(directory), windows=windows.as_tuple(),
                training_set_hash=training_set.content_hash, lineage=metadata,
            )
        context.log.info(f"model version {version} saved to {directory}")
        return Output(
            ModelArtifact(version=version, directory=str(directory),
                          cutoff=str(training_set.cutoff), inputs=inputs),
            metadata={
                "version": version,
                "path": MetadataValue.path(str(directory / "model.onnx")),
                "training_rows": training_set.train_rows,
                "inputs": MetadataValue.json(inputs.to_dict()),
                "hyperparameters": MetadataValue.json(params),
                "lineage": MetadataValue.json(metadata),
            },
        )

    return delay_model


# --- blocking checks -------------------------------------------------------------------------

def onnx_parity(store: ModelStore, artifact: ModelArtifact, holdout) -> float:
    """Max |P_onnx - P_sklearn| over the holdout rows."""
    directory = Path(artifact.directory)
    onnx_p = onnx_predict_proba(store.onnx_session(directory), holdout, artifact.inputs)
    sklearn_p = sklearn_predict_proba(store.sklearn_pipeline(directory), holdout, artifact.inputs)
    return float(np.max(np.abs(onnx_p - sklearn_p)))


# Both checks judge one model partition on its holdout, block what follows it in the run, and
# write their verdict into the registry (hence the warehouse pool).
BLOCKING_MODEL_CHECK = {
    "asset": MODEL,
    "blocking": True,
    "partitions_def": weekly_partitions,
    "additional_ins": {"training_set": AssetIn(TRAINING_SET)},
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
        metadata={"max_abs_diff": float(f"{max_diff:.3g}"),
                  "tolerance": model_policy.parity_tolerance,
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
    session = model_store.onnx_session(Path(delay_model.directory))
    p = onnx_predict_proba(session, holdout, delay_model.inputs)
    auc = classification_metrics(holdout[LABEL], p, model_policy.decision_threshold)["auc"]
    passed = auc is not None and auc >= model_policy.auc_floor
    _record_check(warehouse, delay_model.version, "auc_above_floor", passed, auc)
    return AssetCheckResult(
        passed=passed, severity=AssetCheckSeverity.ERROR,
        metadata={"auc": round(auc, 4) if auc is not None else None,
                  "floor": model_policy.auc_floor, "version": delay_model.version},
    )
