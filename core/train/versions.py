"""What names a model version: the training data, the training code and the parameters, and
nothing else. An unrelated commit, a longer holdout or an edited metric leaves the same model
the same version; a changed training row, input, label, estimator, hyperparameter, library or
line of core/train/modeling.py makes a new one."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import core.train.modeling

LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")
# The code that turns a training set into a model (core/train/modeling.py, and nothing else).
TRAINING_CODE_HASH = hashlib.sha256(Path(core.train.modeling.__file__).read_bytes()).hexdigest()[:16]


def recipe(model_name: str, inputs: dict, label: str, task: str, estimator: str,
           params: dict) -> dict:
    """How the model is made from its training rows: everything but the rows."""
    return {
        "model_name": model_name,
        "inputs": inputs, "label": label, "task": task,
        "estimator": estimator, "hyperparameters": params,
        "training_code": TRAINING_CODE_HASH,
        "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
    }


def made_of(model_name: str, training_rows_hash: str, inputs: dict, label: str, task: str,
            estimator: str, params: dict) -> dict:
    """Everything that makes the model, and only that: the recipe and the training rows."""
    return {**recipe(model_name, inputs, label, task, estimator, params),
            "training_rows_hash": training_rows_hash}


def spec_recipe_id(spec) -> str:
    """The recipe a spec asks for now (core/model_spec.ModelSpec): a retrain is due when it
    differs from the last training's."""
    return version_id(recipe(spec.name, spec.inputs.to_dict(), spec.label, spec.task,
                             spec.estimator, spec.params))


def version_id(identity: dict) -> str:
    """A version is named by what made it: same inputs and config, same id."""
    canonical = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:12]
