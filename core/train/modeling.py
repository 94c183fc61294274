"""The model, free of Dagster: its inputs prepared, the scikit-learn pipeline, training, the
ONNX export and scoring, for any spec's estimator and task (core/train/model_spec.py). This file's
bytes are "the training code" in a version's lineage, so it holds only what turns a training
set into a model (metrics are in core/evaluate/metrics.py, the version id in core/train/versions.py).

Categoricals are ordinal-encoded inside the Pipeline and fed to the trees as numbers: skl2onnx
converts HistGradientBoostingClassifier(categorical_features=...) without error but with wrong
output (measured here: max abs diff 0.78), while numeric inputs give parity near 1e-7.

scikit-learn and skl2onnx are imported inside the functions that use them: every run and step
process imports the definitions, and most of them never train or export a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.transform.model_inputs import ModelInputs

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}

# Numeric inputs are snapped to a 1/1024 grid before training and scoring. The trees' split
# thresholds are midpoints of data values; ONNX stores them as float32. Off the grid a midpoint
# can round onto a data value in float32 and flip that value's branch (measured here: 8 rows,
# max diff 0.064 on one cutoff). On the grid every midpoint below 2**13 is exact in float32.
INPUT_GRID = 1024
MISSING_CATEGORY = ""


def model_inputs(frame: pd.DataFrame, inputs: ModelInputs) -> pd.DataFrame:
    """The inputs of ``frame``'s rows as the pipeline takes them, built column by column: a
    copy of years of rows at once would double the memory training needs."""
    prepared = {}
    for column in inputs.numeric:
        values = frame[column].astype("float64")
        prepared[column] = (np.round(values * INPUT_GRID) / INPUT_GRID).astype("float32")
    for column in inputs.categorical:
        # Missing is a level of its own, the same string for scikit-learn and ONNX (pandas 3's
        # astype(str) would keep it NaN, a float in a string tensor). As a pandas category, each
        # level is one string however many rows hold it (a Python string per cell: ~60 bytes).
        values = frame[column]
        prepared[column] = (values.astype(object).where(values.notna(), MISSING_CATEGORY)
                            .astype(str).astype("category"))
    return pd.DataFrame(prepared, index=frame.index)[list(inputs.columns)]


def build_pipeline(estimator: str, params: dict, inputs: ModelInputs) -> Pipeline:
    """Encode the categoricals, impute where the estimator cannot take missing values, fit
    ``estimator`` (a class name of core/model_spec.ESTIMATORS) with ``params``."""
    from sklearn import ensemble, linear_model
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    from core.train.model_spec import HANDLES_MISSING

    encode = ColumnTransformer(
        [
            ("numeric", "passthrough", list(inputs.numeric)),
            ("categorical",
             OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                            dtype=np.float32),
             list(inputs.categorical)),
        ]
    )
    steps = [("encode", encode)]
    if estimator not in HANDLES_MISSING:
        steps.append(("impute", SimpleImputer(strategy="median")))
    model_class = getattr(ensemble, estimator, None) or getattr(linear_model, estimator)
    steps.append(("estimate", model_class(**params)))
    return Pipeline(steps)


def training_matrix(train: pd.DataFrame, label: str, inputs: ModelInputs,
                    task: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The prepared inputs and the target of training rows."""
    target = train[label].astype(int if task == "classification" else float).to_numpy()
    return model_inputs(train, inputs), target


# Estimators that copy their input to float64 before fitting (scikit-learn's X_DTYPE).
COMPUTES_IN_FLOAT64 = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")

# Training is three steps so that a caller with years of rows holds each form of them only as
# long as it is needed: the rows, then the prepared inputs, then the encoded matrix the
# estimator copies (to float64, and again for its early-stopping split). Measured at ten years
# (3.3 M rows): each form 0.4-0.9 GB.

def fit_encoding(prepared: pd.DataFrame, target: np.ndarray, estimator: str, params: dict,
                 inputs: ModelInputs) -> tuple[Pipeline, np.ndarray]:
    """The pipeline with every step but the estimator fitted, and the rows as the estimator
    takes them (what Pipeline.fit does before fitting its last step)."""
    pipeline = build_pipeline(estimator, params, inputs)
    encoded = pipeline[:-1].fit_transform(prepared, target)
    if estimator in COMPUTES_IN_FLOAT64:
        # The estimator's own copy, made here so that the caller does not hold the float32
        # rows beside it (the same values: a float32 widens exactly).
        encoded = encoded.astype(np.float64)
    return pipeline, encoded


def fit_estimator(pipeline: Pipeline, encoded: np.ndarray, target: np.ndarray) -> Pipeline:
    pipeline[-1].fit(encoded, target)
    return pipeline


def train_pipeline(train: pd.DataFrame, label: str, estimator: str, params: dict,
                   inputs: ModelInputs, task: str) -> Pipeline:
    prepared, target = training_matrix(train, label, inputs, task)
    pipeline, encoded = fit_encoding(prepared, target, estimator, params, inputs)
    return fit_estimator(pipeline, encoded, target)


def export_onnx(pipeline: Pipeline, inputs: ModelInputs, name: str, task: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [(c, FloatTensorType([None, 1])) for c in inputs.numeric] + [
        (c, StringTensorType([None, 1])) for c in inputs.categorical
    ]
    model = convert_sklearn(
        pipeline,
        initial_types=initial_types,
        target_opset=ONNX_OPSETS,
        # A classifier's probabilities as a plain tensor, not a list of dicts.
        options={id(pipeline.steps[-1][1]): {"zipmap": False}} if task == "classification"
        else None,
        name=name,  # the default is a random uuid, which would make the bytes differ
        doc_string="",
    )
    # skl2onnx lists the opsets in the order of a set of domain names, which follows the
    # process's string hash seed: the same model would serialize differently from run to run.
    opsets = sorted((opset.domain, opset.version) for opset in model.opset_import)
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    return model.SerializeToString()


def onnx_feeds(frame: pd.DataFrame, inputs: ModelInputs) -> dict[str, np.ndarray]:
    prepared = model_inputs(frame, inputs)
    feeds = {c: prepared[c].to_numpy(np.float32).reshape(-1, 1) for c in inputs.numeric}
    feeds.update({c: prepared[c].to_numpy(object).reshape(-1, 1) for c in inputs.categorical})
    return feeds


def onnx_predict(session, frame: pd.DataFrame, inputs: ModelInputs, task: str) -> np.ndarray:
    """What a model serves, per row: P(positive class) for a classifier, the predicted value for
    a regressor; from an onnxruntime session of an exported pipeline."""
    if frame.empty:
        return np.empty(0)
    outputs = session.run(None, onnx_feeds(frame, inputs))
    if task == "classification":
        return outputs[1][:, 1].astype(np.float64)
    return outputs[0].ravel().astype(np.float64)


def sklearn_predict(pipeline: Pipeline, frame: pd.DataFrame, inputs: ModelInputs,
                    task: str) -> np.ndarray:
    prepared = model_inputs(frame, inputs)
    if task == "classification":
        return pipeline.predict_proba(prepared)[:, 1]
    return pipeline.predict(prepared).astype(np.float64)
