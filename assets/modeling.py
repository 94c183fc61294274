"""The delay model, free of Dagster: features, pipeline, ONNX export and scoring, metrics.

Categoricals are ordinal-encoded inside the Pipeline and fed to the trees as numbers: skl2onnx
converts HistGradientBoostingClassifier(categorical_features=...) without error but with wrong
output (measured here: max abs diff 0.78), while numeric inputs give parity near 1e-7.

scikit-learn and skl2onnx are imported inside the functions that use them: every run and step
process imports the definitions, and these two were about half of that import's ~9 s
(`python -X importtime`), while most processes never train or export a model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

NUMERIC_FEATURES = [
    "dep_hour", "day_of_week", "month", "distance", "temp", "wind_speed", "precip", "visib",
    "route_delay_rate_28d", "route_flights_28d",
]
CATEGORICAL_FEATURES = ["carrier", "origin", "dest"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
LABEL = "is_delayed"
MODEL_NAME = "delay_model"
ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}


class TrainingWindowError(ValueError):
    """A training window that cannot train a model; the message names the window."""


# --- training sets -------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingSetRef:
    """What ml/training_set hands downstream: where its Parquet files are and what they hold."""

    cutoff: date
    directory: str
    train_start: date
    train_end: date
    holdout_start: date
    holdout_end: date
    train_rows: int
    holdout_rows: int
    content_hash: str

    @property
    def windows(self) -> tuple[date, date, date, date]:
        return self.train_start, self.train_end, self.holdout_start, self.holdout_end


def frame_hash(frames: dict[str, pd.DataFrame]) -> str:
    """A content hash of data frames (values, columns, order), independent of file bytes."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        digest.update(name.encode())
        digest.update(json.dumps(list(frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_training_set(directory: Path, train: pd.DataFrame, holdout: pd.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    train.to_parquet(directory / "train.parquet", index=False)
    holdout.to_parquet(directory / "holdout.parquet", index=False)


def read_training_set(ref: TrainingSetRef) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the Parquet files of ``ref``, refusing them if they are not what was written."""
    directory = Path(ref.directory)
    train = pd.read_parquet(directory / "train.parquet")
    holdout = pd.read_parquet(directory / "holdout.parquet")
    actual = frame_hash({"train": train, "holdout": holdout})
    if actual != ref.content_hash:
        raise ValueError(
            f"training set {directory} changed since it was materialized "
            f"(hash {actual[:12]} != {ref.content_hash[:12]}): rematerialize ml/training_set"
        )
    return train, holdout


def check_trainable(frame: pd.DataFrame, what: str, first: date, last: date) -> None:
    window = f"{what} window {first}..{last}"
    if frame.empty:
        raise TrainingWindowError(f"{window} has no labeled flights")
    classes = frame[LABEL].nunique()
    if classes < 2:
        raise TrainingWindowError(
            f"{window} has a single class ({frame[LABEL].iloc[0]!r} for all {len(frame)} rows)"
        )


# --- the model -----------------------------------------------------------------------------

# Numeric inputs are snapped to a 1/1024 grid before training and scoring. The trees' split
# thresholds are midpoints of data values; ONNX stores them as float32. Off the grid a midpoint
# can round onto a data value in float32 and flip that value's branch (measured here: 8 rows,
# max diff 0.064 on one cutoff). On the grid every midpoint below 2**13 is exact in float32.
INPUT_GRID = 1024
MISSING_CATEGORY = ""


def model_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    inputs = frame[FEATURES].copy()
    for column in NUMERIC_FEATURES:
        values = inputs[column].astype("float64")
        inputs[column] = (np.round(values * INPUT_GRID) / INPUT_GRID).astype("float32")
    for column in CATEGORICAL_FEATURES:
        # Missing is a level of its own, the same string for scikit-learn and ONNX (pandas 3's
        # astype(str) would keep it NaN, a float in a string tensor).
        values = inputs[column]
        inputs[column] = values.astype(object).where(values.notna(), MISSING_CATEGORY).astype(str)
    return inputs


def build_pipeline(params: dict) -> Pipeline:
    """``params`` are HistGradientBoostingClassifier's (ml/delay_model's ModelConfig)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [
            ("numeric", "passthrough", NUMERIC_FEATURES),
            ("categorical",
             OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                            dtype=np.float32),
             CATEGORICAL_FEATURES),
        ]
    )
    classifier = HistGradientBoostingClassifier(**params)
    return Pipeline([("encode", encode), ("classify", classifier)])


def train_pipeline(train: pd.DataFrame, params: dict) -> Pipeline:
    pipeline = build_pipeline(params)
    pipeline.fit(model_inputs(train), train[LABEL].astype(int))
    return pipeline


def export_onnx(pipeline: Pipeline) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [(c, FloatTensorType([None, 1])) for c in NUMERIC_FEATURES] + [
        (c, StringTensorType([None, 1])) for c in CATEGORICAL_FEATURES
    ]
    model = convert_sklearn(
        pipeline,
        initial_types=initial_types,
        target_opset=ONNX_OPSETS,
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        name=MODEL_NAME,  # the default is a random uuid, which would make the bytes differ
        doc_string="",
    )
    return model.SerializeToString()


def onnx_feeds(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    inputs = model_inputs(frame)
    feeds = {c: inputs[c].to_numpy(np.float32).reshape(-1, 1) for c in NUMERIC_FEATURES}
    feeds.update(
        {c: inputs[c].to_numpy(object).reshape(-1, 1) for c in CATEGORICAL_FEATURES}
    )
    return feeds


def onnx_predict_proba(session, frame: pd.DataFrame) -> np.ndarray:
    """P(delayed) for each row, from an onnxruntime session of an exported pipeline."""
    _, probabilities = session.run(None, onnx_feeds(frame))
    return probabilities[:, 1].astype(np.float64)


def sklearn_predict_proba(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return pipeline.predict_proba(model_inputs(frame))[:, 1]


def version_id(lineage: dict) -> str:
    """A version is named by what made it: same inputs and config, same id."""
    canonical = json.dumps(lineage, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:12]


# --- evaluation ----------------------------------------------------------------------------

def classification_metrics(labels, probabilities, threshold: float) -> dict:
    from sklearn.metrics import (
        brier_score_loss,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = np.asarray(labels).astype(int)
    predicted = (np.asarray(probabilities) >= threshold).astype(int)
    return {
        "rows": int(len(labels)),
        "positive_rate": float(labels.mean()),
        "auc": float(roc_auc_score(labels, probabilities)),
        "log_loss": float(log_loss(labels, probabilities, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, probabilities)),
        "threshold": threshold,
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
    }


def segment_auc(frame: pd.DataFrame, probabilities, column: str, min_rows: int = 200) -> pd.DataFrame:
    """AUC per level of ``column`` (levels with enough rows and both classes)."""
    from sklearn.metrics import roc_auc_score

    scored = frame.assign(p=probabilities)
    rows = []
    for level, group in scored.groupby(column, sort=True):
        if len(group) >= min_rows and group[LABEL].nunique() == 2:
            rows.append({"segment": column, "level": str(level), "rows": len(group),
                         "positive_rate": round(float(group[LABEL].mean()), 4),
                         "auc": round(float(roc_auc_score(group[LABEL], group["p"])), 4)})
    return pd.DataFrame(rows, columns=["segment", "level", "rows", "positive_rate", "auc"])
