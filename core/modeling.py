"""The model, free of Dagster: its inputs prepared, the scikit-learn pipeline, training, the
ONNX export and scoring. This file's bytes are "the training code" in a version's lineage, so
it holds only what turns a training set into a model (metrics are in core/evaluation.py).

Categoricals are ordinal-encoded inside the Pipeline and fed to the trees as numbers: skl2onnx
converts HistGradientBoostingClassifier(categorical_features=...) without error but with wrong
output (measured here: max abs diff 0.78), while numeric inputs give parity near 1e-7.

scikit-learn and skl2onnx are imported inside the functions that use them: every run and step
process imports the definitions, and most of them never train or export a model.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.model_inputs import ModelInputs

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
    prepared = frame[inputs.columns].copy()
    for column in inputs.numeric:
        values = prepared[column].astype("float64")
        prepared[column] = (np.round(values * INPUT_GRID) / INPUT_GRID).astype("float32")
    for column in inputs.categorical:
        # Missing is a level of its own, the same string for scikit-learn and ONNX (pandas 3's
        # astype(str) would keep it NaN, a float in a string tensor).
        values = prepared[column]
        prepared[column] = values.astype(object).where(values.notna(), MISSING_CATEGORY).astype(str)
    return prepared


def build_pipeline(params: dict, inputs: ModelInputs) -> Pipeline:
    """``params`` are HistGradientBoostingClassifier's (ml/delay_model's ModelConfig)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [
            ("numeric", "passthrough", list(inputs.numeric)),
            ("categorical",
             OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                            dtype=np.float32),
             list(inputs.categorical)),
        ]
    )
    classifier = HistGradientBoostingClassifier(**params)
    return Pipeline([("encode", encode), ("classify", classifier)])


def train_pipeline(train: pd.DataFrame, label: str, params: dict, inputs: ModelInputs) -> Pipeline:
    pipeline = build_pipeline(params, inputs)
    pipeline.fit(model_inputs(train, inputs), train[label].astype(int))
    return pipeline


def export_onnx(pipeline: Pipeline, inputs: ModelInputs, name: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [(c, FloatTensorType([None, 1])) for c in inputs.numeric] + [
        (c, StringTensorType([None, 1])) for c in inputs.categorical
    ]
    model = convert_sklearn(
        pipeline,
        initial_types=initial_types,
        target_opset=ONNX_OPSETS,
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        name=name,  # the default is a random uuid, which would make the bytes differ
        doc_string="",
    )
    return model.SerializeToString()


def onnx_feeds(frame: pd.DataFrame, inputs: ModelInputs) -> dict[str, np.ndarray]:
    prepared = model_inputs(frame, inputs)
    feeds = {c: prepared[c].to_numpy(np.float32).reshape(-1, 1) for c in inputs.numeric}
    feeds.update({c: prepared[c].to_numpy(object).reshape(-1, 1) for c in inputs.categorical})
    return feeds


def onnx_predict_proba(session, frame: pd.DataFrame, inputs: ModelInputs) -> np.ndarray:
    """P(positive class) for each row, from an onnxruntime session of an exported pipeline."""
    if frame.empty:
        return np.empty(0)
    _, probabilities = session.run(None, onnx_feeds(frame, inputs))
    return probabilities[:, 1].astype(np.float64)


def sklearn_predict_proba(pipeline: Pipeline, frame: pd.DataFrame, inputs: ModelInputs) -> np.ndarray:
    return pipeline.predict_proba(model_inputs(frame, inputs))[:, 1]


def version_id(lineage: dict) -> str:
    """A version is named by what made it: same inputs and config, same id."""
    canonical = json.dumps(lineage, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:12]
