"""ml/<model>/model and its blocking checks, per cutoff week.

The model is the spec's estimator on the inputs the spec selects from those the feature model
declares (its dbt YAML), exported to ONNX and stored under a version named by what made it
(core/train/versions.py). Two blocking checks guard it (ONNX parity with scikit-learn, the spec's
quality floor) and record their verdict in the registry, which ml/<model>/champion reads: a
model that failed a check is never promoted.
"""

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
from pydantic import create_model

from assets.keys import FEATURE_LINEAGE, ML_GROUP, ModelKeys
from assets.partitions import weekly_partitions
from assets.policies import WAREHOUSE_STEP
from core.evaluate.metrics import for_people, task_metrics
from core.gate import registry
from core.serve.artifact_probe import onnx_sha256
from core.serve.skew import DAY, input_profile
from core.train.cost import measured_cost
from core.train.model_spec import ModelSpec
from core.train.modeling import (
    export_onnx,
    fit_encoding,
    fit_estimator,
    onnx_predict,
    sklearn_predict,
    training_matrix,
)
from core.train.training_sets import TrainingSetRef, frame_hash, read_training_set
from core.train.versions import made_of, recipe, version_id
from core.transform.model_inputs import ModelInputs
from resources.model_store import ModelStore
from resources.settings import REPO_ROOT
from resources.warehouse import DuckDBWarehouse


@dataclass(frozen=True)
class ModelArtifact:
    """What ml/<model>/model hands downstream: the version, where its files are, its inputs."""

    version: str
    directory: str
    cutoff: str
    inputs: ModelInputs


def hyperparameter_config(spec: ModelSpec) -> type[Config]:
    """A run config with one field per hyperparameter of the spec, defaulting to the spec's
    value: the Launchpad shows them, a run may change them (a new version)."""
    fields = {name: (type(value), value) for name, value in spec.params.items()
              if isinstance(value, (bool, int, float, str))}
    return create_model(f"{spec.name}_hyperparameters", __base__=Config, **fields)


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


def build_model(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    ModelConfig = hyperparameter_config(spec)

    @asset(
        key=keys.model,
        group_name=ML_GROUP,
        partitions_def=weekly_partitions,
        ins={"training_set": AssetIn(keys.training_set)},
        **WAREHOUSE_STEP,
        kinds={"sklearn", "onnx"},
        description=f"{spec.name}: {spec.estimator} ({spec.task}) on the declared inputs,"
                    " exported to ONNX, versioned.",
    )
    def model(
        context: AssetExecutionContext,
        config: ModelConfig,
        training_set: TrainingSetRef,
        model_store: ModelStore,
        warehouse: DuckDBWarehouse,
    ) -> Output[ModelArtifact]:
        inputs = spec.inputs
        # What the model, its identity and its input profile read: years of training rows with
        # every feature and the hindsight weather would not fit a small machine's memory.
        train = read_training_set(training_set, "train", [*inputs.columns, spec.label, DAY])
        params = {**spec.params, **config.model_dump()}
        windows = training_set.windows
        context.log.info(f"training {spec.estimator} on {len(train):,} rows"
                         f" ({windows.train_start}..{windows.train_end}),"
                         f" {len(inputs.columns)} inputs, {params}")
        made_with = (inputs.to_dict(), spec.label, spec.task, spec.estimator, params)
        identity = made_of(spec.name, frame_hash({"train": train[[*inputs.columns, spec.label]]}),
                           *made_with)
        # each input as the model learned it: serving is checked against it (core/serve/skew.py)
        profile = input_profile(train, inputs)
        with measured_cost() as cost:
            # each form of the rows let go once the next is made (core/train/modeling.py)
            prepared, target = training_matrix(train, spec.label, inputs, spec.task)
            del train
            pipeline, encoded = fit_encoding(prepared, target, spec.estimator, params, inputs)
            del prepared
            pipeline = fit_estimator(pipeline, encoded, target)
            del encoded
            onnx_bytes = export_onnx(pipeline, inputs, spec.name, spec.task)
        version, recipe_id = version_id(identity), version_id(recipe(spec.name, *made_with))
        # The rest is lineage, not identity: an unrelated commit or a longer holdout must not
        # turn the same model into a new one.
        metadata = {
            **identity, **training_set.lineage, "version": version, "recipe": recipe_id,
            "description": spec.description,
            "cutoff": str(training_set.cutoff),
            "train_window": [str(windows.train_start), str(windows.train_end)],
            "holdout_window": [str(windows.holdout_start), str(windows.holdout_end)],
            "training_rows": training_set.train_rows,
            "training_set_hash": training_set.content_hash,
            "training_set_dir": training_set.directory,
            "training_set_files": training_set.file_digests,
            "onnx_sha256": onnx_sha256(onnx_bytes),  # what the serving artifact must stay
            "dbt_code_versions": dbt_code_versions(context), "git_commit": git_commit(),
            "input_profile": profile,
        }
        directory = model_store.save(spec.name, version, onnx_bytes, pipeline, metadata)
        with warehouse.transaction() as con:
            registry.register_candidate(
                con, version=version, model_name=spec.name, cutoff=training_set.cutoff,
                artifact_dir=str(directory), windows=windows.as_tuple(),
                training_set_hash=training_set.content_hash, lineage=metadata,
            )
        context.log.info(f"model version {version} saved to {directory}")
        return Output(
            ModelArtifact(version=version, directory=str(directory),
                          cutoff=str(training_set.cutoff), inputs=inputs),
            metadata={
                "version": version,
                # what sensors/retrain reads: how it was made, and the labels it could see
                "recipe": recipe_id,
                "labeled_through": training_set.lineage["labeled_days"][1],
                "path": MetadataValue.path(str(directory / "model.onnx")),
                "training_rows": training_set.train_rows,
                **cost,  # what this training cost (M6, platform/objectives.yaml)
                "inputs": MetadataValue.json(inputs.to_dict()),
                "hyperparameters": MetadataValue.json(params),
                "lineage": MetadataValue.json(metadata),
            },
        )

    return model


def build_model_checks(spec: ModelSpec):
    """The model's two blocking checks. Both judge one model partition on its holdout, block
    what follows it in the run, and write their verdict into the registry."""
    keys = ModelKeys(spec.name)
    blocking = {
        "asset": keys.model,
        "blocking": True,
        "partitions_def": weekly_partitions,
        "additional_ins": {"training_set": AssetIn(keys.training_set)},
        **WAREHOUSE_STEP,
    }

    def record(warehouse, version: str, name: str, passed: bool, value) -> None:
        with warehouse.transaction() as con:
            registry.record_check(con, version, name, passed, value)

    @asset_check(name="onnx_matches_sklearn", **blocking,
                 description="ONNX Runtime's predictions equal scikit-learn's on the holdout.")
    def onnx_matches_sklearn(model: ModelArtifact, training_set: TrainingSetRef,
                             model_store: ModelStore, warehouse: DuckDBWarehouse):
        holdout = read_training_set(training_set, "holdout")
        directory = Path(model.directory)
        served = onnx_predict(model_store.onnx_session(directory), holdout, model.inputs,
                              spec.task)
        reference = sklearn_predict(model_store.sklearn_pipeline(directory), holdout,
                                    model.inputs, spec.task)
        max_diff = float(np.max(np.abs(served - reference)))
        passed = max_diff <= spec.parity_tolerance
        record(warehouse, model.version, "onnx_matches_sklearn", passed, max_diff)
        return AssetCheckResult(
            passed=passed, severity=AssetCheckSeverity.ERROR,
            metadata={"max_abs_diff": float(f"{max_diff:.3g}"),
                      "tolerance": spec.parity_tolerance,
                      "rows": len(holdout), "version": model.version})

    gate = spec.gate
    bound = "at least" if gate.higher_is_better else "at most"

    @asset_check(name="quality_floor", **blocking,
                 description=f"Holdout {gate.metric} (of the ONNX model) is {bound}"
                             f" {gate.worst_acceptable} (the spec's gate.worst_acceptable).")
    def quality_floor(model: ModelArtifact, training_set: TrainingSetRef,
                      model_store: ModelStore, warehouse: DuckDBWarehouse):
        holdout = read_training_set(training_set, "holdout")
        session = model_store.onnx_session(Path(model.directory))
        served = onnx_predict(session, holdout, model.inputs, spec.task)
        value = task_metrics(spec.task, holdout[spec.label], served, spec.flag_above)[gate.metric]
        passed = gate.acceptable(value)
        record(warehouse, model.version, "quality_floor", passed, value)
        return AssetCheckResult(
            passed=passed, severity=AssetCheckSeverity.ERROR,
            metadata={gate.metric: for_people(gate.metric, value),
                      "worst_acceptable": gate.worst_acceptable, "version": model.version})

    return [onnx_matches_sklearn, quality_floor]
