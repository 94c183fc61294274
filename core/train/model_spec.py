"""A model is one YAML file in model_specs/: what it predicts, from which feature model, with
which estimator, how it is judged and when it retrains. The platform turns each spec into its
asset chain (assets/models.py); this module only reads and checks specs, free of Dagster.

Every mistake is refused when the definitions load, before any run starts, naming the spec
file, the field and the problem: an unknown feature model, an input the feature model does not
declare, a label of the wrong type for the task, an estimator skl2onnx cannot convert.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import yaml

from core.evaluate.uncertainty import HIGHER_IS_BETTER
from core.gate.sequential import SPENDING
from core.transform.model_inputs import InputDeclarationError, ModelInputs, inputs_of, model_node

TASKS = ("classification", "regression")
LABELS_MODEL = "flight_labels"  # where every label column is defined (dbt_project/models/labels)

# Estimators the platform can train, export (skl2onnx has a converter for each: tested in
# tests/unit/test_model_spec.py) and serve, by task. Those that cannot take missing values get a
# median imputer in front (core/train/modeling.py).
ESTIMATORS = {
    "HistGradientBoostingClassifier": "classification",
    "RandomForestClassifier": "classification",
    "LogisticRegression": "classification",
    "HistGradientBoostingRegressor": "regression",
    "RandomForestRegressor": "regression",
    "Ridge": "regression",
    "LinearRegression": "regression",
}
HANDLES_MISSING = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")

# The metrics a gate can use, and whether higher is better (core/evaluate/uncertainty.py).
METRICS = HIGHER_IS_BETTER
TASK_METRICS = {"classification": ("auc", "log_loss", "brier"), "regression": ("mae", "rmse")}
# dbt data types a label may have, by task.
LABEL_TYPES = {"classification": ("boolean",),
               "regression": ("double", "float", "integer", "bigint", "decimal", "numeric")}


def metric_label(metric: str) -> str:
    """How people read a metric's name: AUC, MAE, RMSE, log_loss."""
    return metric.upper() if metric in ("auc", "mae", "rmse") else metric


NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(ValueError):
    """A model spec the platform cannot build; the message names the file and the field."""


PROMOTION_MODES = ("auto", "manual")
FEATURE_DRIFT_ACTIONS = ("warn", "retrain")


@dataclass(frozen=True)
class Gate:
    """How a challenger earns promotion (core/gate/decision.py applies it)."""

    metric: str
    worst_acceptable: float  # blocking check: a model worse than this is never promoted
    margin: float  # the gain must exceed this, in the metric's units, beyond the noise
    # A gain beyond this on the days neither model trained on is not believed: an operator
    # decides (an input may know the outcome).
    max_plausible_gain: float
    alpha: float = 0.05  # one-sided error rate of a promotion, over all the gate's looks
    spending: str = "obrien_fleming"  # how alpha is spent over the looks (core/gate/sequential.py)
    min_rows: int = 5000  # labeled rows both models are scored on, at least
    min_days: int = 7  # ... over at least this many days
    look_every_days: int = 7  # after the first look, the gate looks again every 7 new days
    max_days: int = 84  # the horizon: undecided after this many days of evidence, rejected
    promotion: str = "auto"  # manual: a challenger that passes waits for an operator

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]

    def acceptable(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.worst_acceptable if self.higher_is_better \
            else value <= self.worst_acceptable


@dataclass(frozen=True)
class Monitoring:
    """When the serving model has decayed and when its inputs have drifted (core/monitor/drift.py)."""

    window_days: int = 7  # the recent window judged
    min_rows: int = 2000  # labeled rows of the serving version, at least, to judge decay
    decay: float = 0.05  # realized metric this much worse than its holdout value is decay
    psi_threshold: float = 0.25  # an input drifted past this ...
    feature_drift: str = "warn"  # ... warns, or with "retrain" also requests a retrain


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path
    description: str
    feature_model: str
    label: str
    label_definition: str
    task: str
    estimator: str
    params: dict
    inputs: ModelInputs
    train_days: int | None
    holdout_days: int | None
    gate: Gate
    flag_above: float  # a served prediction at or above this is flagged for people to act on
    parity_tolerance: float  # max |ONNX - scikit-learn| on the holdout (a blocking check)
    monitoring: Monitoring
    min_new_label_days: int  # labels matured since the last training that justify a retrain

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"

    def lineage(self) -> dict:
        """What the spec says about the model, for its metadata and model card."""
        return {"spec": str(self.path.name), "task": self.task, "estimator": self.estimator,
                "label": self.label, "label_definition": self.label_definition,
                "feature_model": self.feature_model}


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_specs(specs_dir: Path, manifest_path: Path,
               overrides: dict[str, dict] | None = None) -> list[ModelSpec]:
    """Every ``*.yaml`` in ``specs_dir``, checked against the dbt manifest, sorted by name.
    ``overrides`` ({model name: partial spec}) are merged in first (tests, deployments)."""
    manifest = json.loads(Path(manifest_path).read_text())
    paths = sorted(Path(specs_dir).glob("*.yaml"))
    if not paths:
        raise SpecError(f"{specs_dir}: no model spec (*.yaml)")
    return [parse_spec(path, manifest, Path(manifest_path), (overrides or {}).get(path.stem, {}))
            for path in paths]


def parse_spec(path: Path, manifest: dict, manifest_path: Path, override: dict) -> ModelSpec:
    raw = yaml.safe_load(path.read_text()) or {}
    raw = _merge(raw, override)

    def fail(field: str, problem: str) -> SpecError:
        return SpecError(f"{path}: {field}: {problem}")

    def need(mapping: dict, field: str, where: str = ""):
        if field not in mapping:
            raise fail(where + field, "is required")
        return mapping[field]

    name = need(raw, "name")
    if not isinstance(name, str) or not NAME.match(name) or name != path.stem:
        raise fail("name", f"{name!r} must be lower_snake_case and match the file name"
                           f" ({path.stem!r})")
    task = need(raw, "task")
    if task not in TASKS:
        raise fail("task", f"{task!r} is not one of {', '.join(TASKS)}")

    feature_model = need(raw, "feature_model")
    features_node = model_node(manifest, feature_model)
    if features_node is None:
        raise fail("feature_model", f"no dbt model named {feature_model!r} in {manifest_path}")
    try:
        declared = inputs_of(features_node)
    except InputDeclarationError as error:
        raise fail("feature_model", str(error)) from error
    inputs = _select_inputs(raw.get("inputs", "all"), declared, feature_model, fail)

    label = need(raw, "label")
    label_columns = model_node(manifest, LABELS_MODEL)["columns"]
    if label not in label_columns:
        raise fail("label", f"{label!r} is not a column of the dbt model {LABELS_MODEL}")
    label_type = (label_columns[label].get("data_type") or "").lower()
    if label_type not in LABEL_TYPES[task]:
        raise fail("label", f"{label!r} is {label_type or 'untyped'} in {LABELS_MODEL}; a {task}"
                            f" label must be {' or '.join(LABEL_TYPES[task])}")

    estimator = need(raw, "estimator")
    kind = need(estimator, "class", "estimator.")
    if kind not in ESTIMATORS:
        raise fail("estimator.class", f"{kind!r} is not an estimator the platform exports to"
                                      f" ONNX (skl2onnx) and serves; use one of"
                                      f" {', '.join(ESTIMATORS)}")
    if ESTIMATORS[kind] != task:
        raise fail("estimator.class", f"{kind!r} is a {ESTIMATORS[kind]} estimator, the task"
                                      f" is {task}")
    params = estimator.get("params") or {}
    if not isinstance(params, dict):
        raise fail("estimator.params", "must be a mapping of hyperparameters")

    gate = need(raw, "gate")
    metric = need(gate, "metric", "gate.")
    if metric not in TASK_METRICS[task]:
        raise fail("gate.metric", f"{metric!r} is not a {task} metric"
                                  f" ({', '.join(TASK_METRICS[task])})")
    training, serving, monitoring, retrain = (raw.get(part) or {} for part in
                                              ("training", "serving", "monitoring", "retrain"))
    _one_of(gate, "promotion", PROMOTION_MODES, "gate.", fail)
    _one_of(gate, "spending", SPENDING, "gate.", fail)
    if not 0 < float(gate.get("alpha", 0.05)) < 0.5:
        raise fail("gate.alpha", f"{gate['alpha']!r} must lie between 0 and 0.5 (one-sided)")
    _one_of(monitoring, "feature_drift", FEATURE_DRIFT_ACTIONS, "monitoring.", fail)
    return ModelSpec(
        name=name, path=path, description=str(raw.get("description", "")).strip(),
        feature_model=feature_model, label=label,
        label_definition=str(label_columns[label].get("description") or label),
        task=task, estimator=kind, params=params, inputs=inputs,
        train_days=training.get("train_days"), holdout_days=training.get("holdout_days", 14),
        gate=Gate(metric, float(need(gate, "worst_acceptable", "gate.")),
                  float(gate.get("margin", 0.0)),
                  float(need(gate, "max_plausible_gain", "gate.")),
                  **_typed(gate, Gate, "gate.", fail)),
        flag_above=float(need(serving, "flag_above", "serving.")),
        parity_tolerance=float(serving.get("parity_tolerance", 1e-5)),
        monitoring=Monitoring(**_typed(monitoring, Monitoring, "monitoring.", fail)),
        min_new_label_days=int(retrain.get("min_new_label_days", 7)),
    )


def _one_of(mapping: dict, field: str, allowed: tuple[str, ...], where: str, fail) -> None:
    if field in mapping and mapping[field] not in allowed:
        raise fail(where + field, f"{mapping[field]!r} is not one of {', '.join(allowed)}")


def _typed(mapping: dict, cls, where: str, fail) -> dict:
    """The optional fields of ``cls`` that ``mapping`` sets, as the types of their defaults."""
    values = {}
    for field in fields(cls):
        if field.default is MISSING or field.name not in mapping:
            continue
        try:
            values[field.name] = type(field.default)(mapping[field.name])
        except (TypeError, ValueError) as error:
            raise fail(where + field.name, f"{mapping[field.name]!r} is not a"
                                           f" {type(field.default).__name__}") from error
    return values


def _select_inputs(selected, declared: ModelInputs, feature_model: str, fail) -> ModelInputs:
    """``all`` (every declared input) or a list of declared inputs (a subset)."""
    if selected == "all":
        return declared
    if not isinstance(selected, list) or not selected:
        raise fail("inputs", "must be 'all' or a list of the feature model's declared inputs")
    unknown = [column for column in selected if column not in declared.columns]
    if unknown:
        raise fail("inputs", f"{', '.join(map(str, unknown))} not declared as a model input by"
                             f" the dbt model {feature_model} (column meta model_input)")
    return ModelInputs(tuple(c for c in declared.numeric if c in selected),
                       tuple(c for c in declared.categorical if c in selected))
