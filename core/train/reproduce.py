"""Does a model's training reproduce? (the service level M8)

The version is trained again from what its lineage records (metadata.json: the stored training
set, verified by its content hash, and the recipe), exported, and its ONNX bytes compared with
the ones registered. Same rows and recipe must give the same bytes: a difference means
something in training is not pinned (a seed, a thread-dependent sum, an unordered input), and
a retrain could not be trusted to be the model it claims to be.

A version made by other training code or other library versions than these is not comparable:
the probe says so instead of judging it.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from core.serve.artifact_probe import onnx_sha256
from core.train.modeling import export_onnx, train_pipeline
from core.train.training_sets import read_verified
from core.train.versions import LIBRARIES, TRAINING_CODE_HASH
from core.transform.model_inputs import ModelInputs


class NotComparable(Exception):
    """The version was made by other code or libraries: its bytes are not expected to match."""


def retrained_onnx(lineage: dict) -> bytes:
    """The version's ONNX, trained again from its lineage."""
    installed = {name: importlib.metadata.version(name) for name in LIBRARIES}
    if lineage.get("training_code") != TRAINING_CODE_HASH:
        raise NotComparable("trained by other training code")
    if lineage.get("libraries") != installed:
        raise NotComparable(f"trained with {lineage.get('libraries')}, installed {installed}")
    if lineage.get("training_set_files") is None:
        raise NotComparable("trained before training set files were digested")
    inputs = ModelInputs.from_dict(lineage["inputs"])
    train = read_verified(Path(lineage["training_set_dir"]), lineage["training_set_files"],
                          "train", [*inputs.columns, lineage["label"]])
    pipeline = train_pipeline(train, lineage["label"], lineage["estimator"],
                              lineage["hyperparameters"], inputs, lineage["task"])
    return export_onnx(pipeline, inputs, lineage["model_name"], lineage["task"])


def reproduction_problem(lineage: dict) -> str:
    """Why retraining the version does not give its registered bytes, or "" when it does.
    Raises NotComparable when no verdict is due."""
    registered = lineage.get("onnx_sha256")
    if registered is None:
        raise NotComparable("no hash was registered (trained before hashes were kept)")
    again = onnx_sha256(retrained_onnx(lineage))
    if again != registered:
        return (f"retrained on the same {lineage['training_set_hash'][:12]} rows and recipe, the"
                f" ONNX has SHA-256 {again[:12]}, registered {registered[:12]}")
    return ""
