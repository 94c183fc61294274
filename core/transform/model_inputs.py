"""A model's inputs, as declared where the columns are defined: the dbt YAML of the feature
model (column meta ``model_input: numeric | categorical``), read from dbt's manifest.

An analyst adds an input with one line of YAML; the next model trains on it, exports it in its
ONNX signature and records it in its metadata, which is what scoring then uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class ModelInputs:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict[str, list[str]]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelInputs:
        return cls(tuple(data["numeric"]), tuple(data["categorical"]))


class InputDeclarationError(ValueError):
    """The feature model's YAML declares inputs the platform cannot use."""


def model_node(manifest: dict, name: str) -> dict | None:
    """The dbt model ``name`` in a parsed manifest (None: there is none)."""
    return next((node for node in manifest["nodes"].values()
                 if node["resource_type"] == "model" and node["name"] == name), None)


def declared_inputs(manifest_path: Path, model: str = "flight_features") -> ModelInputs:
    """The inputs the dbt model declares, in its columns' order."""
    node = model_node(json.loads(Path(manifest_path).read_text()), model)
    if node is None:
        raise InputDeclarationError(f"{manifest_path}: no dbt model named {model!r}")
    return inputs_of(node)


def inputs_of(node: dict) -> ModelInputs:
    """The inputs a manifest's model node declares (column meta model_input)."""
    kinds: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for column in node["columns"].values():
        kind = (column.get("config", {}).get("meta") or column.get("meta") or {}).get("model_input")
        if kind is None:
            continue
        if kind not in KINDS:
            raise InputDeclarationError(
                f"{node['original_file_path']}: column {column['name']} declares"
                f" model_input: {kind!r}; expected one of {', '.join(KINDS)}")
        kinds[kind].append(column["name"])
    if not kinds["numeric"] and not kinds["categorical"]:
        raise InputDeclarationError(
            f"{node['original_file_path']}: no column declares meta model_input")
    return ModelInputs(tuple(kinds["numeric"]), tuple(kinds["categorical"]))
