"""A model is one YAML spec (model_specs/), checked against the dbt manifest when the
definitions load: every mistake names the spec file, the field and the problem."""

import shutil

import pytest
import yaml

from core.train.model_spec import ESTIMATORS, SpecError, load_specs
from resources.settings import REPO_ROOT

MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"
SPECS = REPO_ROOT / "model_specs"


def test_the_shipped_specs_a_classifier_and_a_regressor():
    specs = {spec.name: spec for spec in load_specs(SPECS, MANIFEST)}
    assert set(specs) == {"not_on_time", "arrival_delay"}
    classifier, regressor = specs["not_on_time"], specs["arrival_delay"]
    assert (classifier.task, classifier.label, classifier.gate.metric) == (
        "classification", "is_late", "auc")
    assert (regressor.task, regressor.label, regressor.gate.metric) == (
        "regression", "arr_delay", "mae")
    assert classifier.gate.higher_is_better and not regressor.gate.higher_is_better
    # inputs: all that the feature model's YAML declares
    assert classifier.inputs == regressor.inputs and "carrier" in classifier.inputs.categorical


def test_every_supported_estimator_has_a_skl2onnx_converter():
    from skl2onnx import get_model_alias
    from sklearn import ensemble, linear_model

    for name in ESTIMATORS:
        estimator = getattr(ensemble, name, None) or getattr(linear_model, name)
        assert get_model_alias(estimator).startswith("Sklearn"), name


def _spec_dir(tmp_path, **changes):
    """A copy of model_specs/ whose not_on_time.yaml has ``changes`` (dotted field: value)."""
    target = tmp_path / "model_specs"
    shutil.copytree(SPECS, target)
    path = target / "not_on_time.yaml"
    spec = yaml.safe_load(path.read_text())
    for field, value in changes.items():
        *parents, leaf = field.split(".")
        node = spec
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    path.write_text(yaml.safe_dump(spec))
    return target


@pytest.mark.parametrize("changes, field, problem", [
    ({"feature_model": "flight_featurez"}, "feature_model",
     "no dbt model named 'flight_featurez'"),
    ({"inputs": ["carrier", "seats_per_engine"]}, "inputs",
     "seats_per_engine not declared as a model input by the dbt model flight_features"),
    ({"label": "arr_delay"}, "label",
     "'arr_delay' is double in flight_labels; a classification label must be boolean"),
    ({"label": "gate_number"}, "label", "'gate_number' is not a column"),
    # a regressor outside the supported list (core/model_spec.ESTIMATORS)
    ({"task": "regression", "label": "arr_delay", "gate.metric": "mae",
      "estimator.class": "QuantileRegressor"}, "estimator.class",
     "'QuantileRegressor' is not an estimator the platform exports to ONNX"),
    ({"estimator.class": "Ridge"}, "estimator.class",
     "'Ridge' is a regression estimator, the task is classification"),
    ({"gate.metric": "mae"}, "gate.metric", "'mae' is not a classification metric"),
    ({"task": "ranking"}, "task", "'ranking' is not one of classification, regression"),
    ({"name": "Late-Flights"}, "name", "must be lower_snake_case"),
])
def test_a_bad_spec_is_refused_naming_the_file_and_the_field(tmp_path, changes, field, problem):
    specs = _spec_dir(tmp_path, **changes)
    with pytest.raises(SpecError) as error:
        load_specs(specs, MANIFEST)
    message = str(error.value)
    assert message.startswith(f"{specs / 'not_on_time.yaml'}: {field}: ")
    assert problem in message




def test_overrides_change_a_spec_without_editing_its_file():
    specs = {spec.name: spec for spec in load_specs(
        SPECS, MANIFEST, {"not_on_time": {"gate": {"worst_acceptable": 0.5}}})}
    assert specs["not_on_time"].gate.worst_acceptable == 0.5
    assert specs["not_on_time"].gate.max_days == 84  # the rest of the gate stays


def test_every_served_model_is_a_dbt_exposure_of_type_ml():
    """dbt knows what each model reads: an exposure per spec, depending on its feature model
    and the labels (dbt_project/models/exposures.yml)."""
    import json

    exposures = {node["name"]: node for node in
                 json.loads(MANIFEST.read_text())["exposures"].values()}
    for spec in load_specs(SPECS, MANIFEST):
        exposure = exposures[spec.name]
        assert exposure["type"] == "ml"
        assert {f"model.flight_delays.{spec.feature_model}",
                "model.flight_delays.flight_labels"} == set(exposure["depends_on"]["nodes"])
