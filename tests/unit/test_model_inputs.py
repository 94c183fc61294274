"""Model inputs are declared in the dbt YAML of the feature model (column meta model_input)
and read from dbt's manifest (core/transform/model_inputs.py)."""

import json

import pytest

from core.transform.model_inputs import InputDeclarationError, declared_inputs
from resources.settings import REPO_ROOT

MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"


def test_the_feature_models_declared_inputs_in_its_column_order():
    inputs = declared_inputs(MANIFEST)
    assert inputs.categorical == ("carrier", "origin", "dest")
    assert inputs.numeric[:3] == ("dep_hour", "day_of_week", "distance")
    assert "pressure_trend_12h" in inputs.numeric
    # identifiers, the label and hindsight are not inputs
    assert not {"flight_id", "flight_date", "is_late", "temp_at_departure"} & set(inputs.columns)


def _manifest(tmp_path, columns: dict) -> str:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": {"model.p.flight_features": {
        "resource_type": "model", "name": "flight_features",
        "original_file_path": "models/features/flight_features.sql",
        "columns": {name: {"name": name, "config": {"meta": meta}}
                    for name, meta in columns.items()}}}}))
    return path


def test_an_unknown_kind_of_input_is_refused_naming_the_file_and_column(tmp_path):
    path = _manifest(tmp_path, {"a": {"model_input": "numerc"}})
    with pytest.raises(InputDeclarationError, match="flight_features.sql: column a declares"
                                                      " model_input: 'numerc'"):
        declared_inputs(path)


def test_a_model_without_declared_inputs_is_refused(tmp_path):
    with pytest.raises(InputDeclarationError, match="no column declares"):
        declared_inputs(_manifest(tmp_path, {"a": {}}))
