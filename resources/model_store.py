"""Versioned model artifacts on disk.

Layout, each folder written by one asset only:
- ``<base_dir>/training_sets/<model_name>/<cutoff>/<content hash>/{train,holdout}.parquet`` (ml/<model>/training_set);
- ``<base_dir>/<model_name>/<version>/``: ``model.onnx`` (what serves), ``model.joblib`` (the
  scikit-learn pipeline, kept for the parity check) and ``metadata.json`` (lineage, inputs,
  hyperparameters, library versions) (ml/<model>/model);
- ``<base_dir>/evaluations/<model_name>/<version>/``: ``evaluation.json`` and ``model_card.md``
  (ml/<model>/evaluation).
"""

import functools
import json
from pathlib import Path

import joblib
import onnxruntime as ort
from dagster import ConfigurableResource

from core.transform.model_inputs import ModelInputs


@functools.lru_cache(maxsize=8)
def _onnx_session(path: str, mtime_ns: int, threads: int) -> ort.InferenceSession:
    # Cached per process: a run that scores many partitions builds its session once. The
    # file's mtime is part of the key, so a replaced file is never served from the cache.
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class ModelStore(ConfigurableResource):
    base_dir: str
    ort_threads: int = 2

    def training_sets_dir(self, model_name: str, cutoff) -> Path:
        """Where a cutoff's training sets live, each in a folder named by its content."""
        return Path(self.base_dir) / "training_sets" / model_name / str(cutoff)

    def version_dir(self, model_name: str, version: str) -> Path:
        return Path(self.base_dir) / model_name / version

    def save(self, model_name: str, version: str, onnx_bytes: bytes, pipeline, metadata: dict) -> Path:
        directory = self.version_dir(model_name, version)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model.onnx").write_bytes(onnx_bytes)
        joblib.dump(pipeline, directory / "model.joblib")
        self.write_metadata(directory, metadata)
        return directory

    def evaluation_dir(self, model_name: str, version: str) -> Path:
        return Path(self.base_dir) / "evaluations" / model_name / version

    def save_evaluation(self, model_name: str, version: str, evaluation: dict, card: str) -> Path:
        directory = self.evaluation_dir(model_name, version)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "evaluation.json").write_text(
            json.dumps(evaluation, indent=2, sort_keys=True, default=str) + "\n")
        (directory / "model_card.md").write_text(card)
        return directory

    @staticmethod
    def write_metadata(directory: Path, metadata: dict) -> None:
        (Path(directory) / "metadata.json").write_text(
            json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n"
        )

    @staticmethod
    def read_metadata(directory: Path) -> dict:
        return json.loads((Path(directory) / "metadata.json").read_text())

    def inputs_of(self, directory: Path) -> ModelInputs:
        """The inputs a stored version was trained on: what scoring must feed it."""
        return ModelInputs.from_dict(self.read_metadata(directory)["inputs"])

    def serve(self, directory: Path, frame, task: str):
        """What the stored version serves for ``frame``'s rows: its ONNX model on the inputs it
        was trained on (core/modeling.onnx_predict)."""
        from core.train.modeling import onnx_predict

        return onnx_predict(self.onnx_session(directory), frame, self.inputs_of(directory), task)

    def onnx_session(self, directory: Path) -> ort.InferenceSession:
        path = Path(directory) / "model.onnx"
        return _onnx_session(str(path), path.stat().st_mtime_ns, self.ort_threads)

    @staticmethod
    def sklearn_pipeline(directory: Path):
        return joblib.load(Path(directory) / "model.joblib")
