"""ml/model_evaluation: how good a version is on its holdout, and what it cannot know.

Holdout metrics of the served (ONNX) model, per segment, with ROC, calibration and AUC by
cutoff plots, and one labeled ablation: the same model trained again with the weather at
departure (hindsight), "what a perfect forecast would add". The evaluation writes its own
folder in the model store (evaluation.json, model_card.md) and the registry's metrics.
"""

from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset
from pydantic import Field

from assets.keys import EVALUATION, ML_GROUP, MODEL, TRAINING_SET
from assets.model_card import markdown_table, render_model_card
from assets.models import MODEL_NAME, ModelArtifact
from assets.partitions import weekly_partitions
from assets.plots import calibration_plot, line_plot, roc_plot
from core.evaluation import classification_metrics, perfect_forecast_ablation, segment_auc
from core.feature_table import HINDSIGHT_WEATHER_COLUMNS, LABEL
from core.modeling import onnx_predict_proba
from core.training_sets import TrainingSetRef, read_training_set
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

REPORTED = ("auc", "log_loss", "brier", "calibration_error", "precision", "recall")


class EvaluationConfig(Config):
    perfect_forecast_ablation: bool = Field(
        default=True, description="Train the model once more with the weather at departure"
                                  " (hindsight) to show what a perfect forecast would add.")


@asset(
    key=EVALUATION,
    group_name=ML_GROUP,
    partitions_def=weekly_partitions,
    ins={"delay_model": AssetIn(MODEL), "training_set": AssetIn(TRAINING_SET)},
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"onnx"},
    description="Holdout metrics, segments, ROC and calibration of the served (ONNX) model,"
                " and the perfect-forecast ablation.",
)
def model_evaluation(
    context: AssetExecutionContext,
    config: EvaluationConfig,
    delay_model: ModelArtifact,
    training_set: TrainingSetRef,
    model_store: ModelStore,
    model_policy: ModelPolicy,
    warehouse: DuckDBWarehouse,
):
    train, holdout = read_training_set(training_set)
    directory = Path(delay_model.directory)
    probabilities = onnx_predict_proba(model_store.onnx_session(directory), holdout,
                                       delay_model.inputs)
    labels = holdout[LABEL].astype(int).to_numpy()
    metrics = classification_metrics(labels, probabilities, model_policy.decision_threshold)
    windows = training_set.windows
    metrics["holdout_window"] = f"{windows.holdout_start}..{windows.holdout_end}"
    segments = pd.concat(
        [segment_auc(holdout, LABEL, probabilities, column) for column in ("carrier", "origin")],
        ignore_index=True)
    model_metadata = model_store.read_metadata(directory)
    ablation = None
    if config.perfect_forecast_ablation:
        ablation = perfect_forecast_ablation(
            train, holdout, LABEL, delay_model.inputs, model_metadata["hyperparameters"],
            HINDSIGHT_WEATHER_COLUMNS, metrics["auc"])
        context.log.info(f"perfect-forecast ablation: AUC"
                         f" {ablation['auc_with_weather_at_departure']:.4f}")

    with warehouse.transaction() as con:
        registry.record_metrics(con, delay_model.version,
                                {**metrics, "perfect_forecast": ablation})
        history = registry.evaluated_models(con)
    card = render_model_card(model_metadata, metrics, segments, ablation)
    evaluation_dir = model_store.save_evaluation(
        MODEL_NAME, delay_model.version,
        {"version": delay_model.version, "metrics": metrics, "perfect_forecast": ablation,
         "segments": segments.to_dict(orient="records")}, card)

    context.log.info(f"{delay_model.version}: holdout AUC {metrics['auc']:.4f} on "
                     f"{metrics['rows']:,} rows")
    forecast = {}
    if ablation:
        forecast = {
            "perfect_forecast_auc": round(ablation["auc_with_weather_at_departure"], 4),
            "perfect_forecast_gain": round(ablation["gain_over_served"], 4),
        }
    return Output(
        {"version": delay_model.version, "metrics": metrics},
        metadata={
            "version": delay_model.version,
            **{name: round(metrics[name], 4) for name in REPORTED if metrics[name] is not None},
            **forecast,
            "threshold": model_policy.decision_threshold,
            "holdout_rows": metrics["rows"],
            "segments": MetadataValue.md(markdown_table(segments)),
            "roc": roc_plot(labels, probabilities, f"ROC, holdout of {training_set.cutoff}"),
            "calibration": calibration_plot(labels, probabilities, "calibration, holdout"),
            "auc_by_cutoff": line_plot(
                [m.cutoff for m in history], [m.metrics["auc"] for m in history],
                "holdout AUC by cutoff week (walk-forward)", "AUC",
            ),
            "model_card": MetadataValue.md(card),
            "evaluation": MetadataValue.path(str(evaluation_dir)),
        },
    )
