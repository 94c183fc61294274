"""core/serve/artifact_probe.py: a serving artifact is its registered bytes and loads."""

import onnx
from onnx import TensorProto, helper

from core.serve.artifact_probe import ONNX_FILE, onnx_sha256, probe_artifact


def identity_model() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=8).SerializeToString()


def test_an_intact_artifact_passes(tmp_path):
    content = identity_model()
    onnx.checker.check_model(onnx.load_from_string(content))
    (tmp_path / ONNX_FILE).write_bytes(content)
    assert probe_artifact(tmp_path, onnx_sha256(content)) == ""


def test_changed_missing_unloadable_or_unregistered_artifacts_say_why(tmp_path):
    content = identity_model()
    registered = onnx_sha256(content)
    assert "is missing" in probe_artifact(tmp_path, registered)
    (tmp_path / ONNX_FILE).write_bytes(content[:-8])
    assert f"registered {registered[:12]}" in probe_artifact(tmp_path, registered)
    garbage = b"not a model"
    (tmp_path / ONNX_FILE).write_bytes(garbage)
    assert "does not load in onnxruntime" in probe_artifact(tmp_path, onnx_sha256(garbage))
    assert "no hash was registered" in probe_artifact(tmp_path, None)
