"""Is the serving model's artifact still what was registered? (the service level M7)

The probe reads the ONNX file, compares its SHA-256 with the hash recorded when the version was
trained, and loads it in onnxruntime: a file changed, truncated or gone since is found here,
before a serving run fails on it or, worse, serves from it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ONNX_FILE = "model.onnx"


def onnx_sha256(onnx_bytes: bytes) -> str:
    return hashlib.sha256(onnx_bytes).hexdigest()


def probe_artifact(directory: Path, registered_sha256: str | None) -> str:
    """Why the artifact in ``directory`` cannot serve, or "" when it can."""
    path = Path(directory) / ONNX_FILE
    if registered_sha256 is None:
        return "no hash was registered for this version (trained before hashes were kept): retrain it"
    if not path.is_file():
        return f"{path} is missing"
    content = path.read_bytes()
    found = onnx_sha256(content)
    if found != registered_sha256:
        return f"{path} has SHA-256 {found[:12]}, registered {registered_sha256[:12]}"
    import onnxruntime as ort  # only when the bytes are right: loading is the slow part

    try:
        ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes for every kind of bad model
        return f"{path} does not load in onnxruntime: {str(error).splitlines()[0]}"
    return ""
