"""ml/<model>/evaluation: how good a version is on its holdout, and what it cannot know.

Holdout metrics of the served (ONNX) model for its task, per segment, with plots (ROC and
calibration for a classifier, predicted against actual for a regressor, the gate's metric by
cutoff), and one labeled ablation: the same model trained again with the weather at departure
(hindsight), "what a perfect forecast would add". The evaluation writes its own folder in the
model store (evaluation.json, model_card.md) and the registry's metrics.
"""

from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset
from pydantic import Field

from assets.keys import ML_GROUP, ModelKeys
from assets.partitions import weekly_partitions
from assets.plots import calibration_plot, line_plot, roc_plot, scatter_plot
from assets.policies import WAREHOUSE_STEP
from assets.train.model import ModelArtifact
from core.evaluate.metrics import (
    REPORTED,
    for_people,
    perfect_forecast_ablation,
    segment_metric,
    task_metrics,
)
from core.evaluate.model_card import markdown_table, render_model_card
from core.evaluate.uncertainty import metric_interval
from core.gate import registry
from core.monitor.estimation import calibration_map
from core.train.model_spec import ModelSpec
from core.train.modeling import onnx_predict
from core.train.training_sets import TrainingSetRef, read_training_set
from core.transform.feature_table import HINDSIGHT_WEATHER_COLUMNS
from resources.model_store import ModelStore
from resources.warehouse import DuckDBWarehouse


class EvaluationConfig(Config):
    # Off unless asked for: it is a question about the data (what would a perfect weather
    # forecast be worth?), not about the model the loop decides on, and it doubles the cost of
    # every training run, the sensors' retrains included.
    perfect_forecast_ablation: bool = Field(
        default=False, description="Train the model once more with the weather at departure"
                                   " (hindsight) to show what a perfect forecast would add.")


def _plots(spec: ModelSpec, labels, predictions, cutoff) -> dict:
    if spec.is_classifier:
        return {"roc": roc_plot(labels, predictions, f"ROC, holdout of {cutoff}"),
                "calibration": calibration_plot(labels, predictions, "calibration, holdout")}
    return {"predicted_vs_actual": scatter_plot(
        labels, predictions, f"{spec.label}: predicted against actual, holdout of {cutoff}",
        "actual", "predicted")}


def build_evaluation(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    metric = spec.gate.metric

    @asset(
        key=keys.evaluation,
        group_name=ML_GROUP,
        partitions_def=weekly_partitions,
        ins={"model": AssetIn(keys.model), "training_set": AssetIn(keys.training_set)},
        **WAREHOUSE_STEP,
        kinds={"onnx"},
        description=f"{spec.name}: holdout metrics, segments and plots of the served (ONNX)"
                    " model, and (when asked for in its config) the perfect-forecast ablation.",
    )
    def evaluation(
        context: AssetExecutionContext,
        config: EvaluationConfig,
        model: ModelArtifact,
        training_set: TrainingSetRef,
        model_store: ModelStore,
        warehouse: DuckDBWarehouse,
    ):
        holdout = read_training_set(training_set, "holdout")
        directory = Path(model.directory)
        predictions = onnx_predict(model_store.onnx_session(directory), holdout, model.inputs,
                                   spec.task)
        labels = holdout[spec.label].astype(int if spec.is_classifier else float).to_numpy()
        metrics = task_metrics(spec.task, labels, predictions, spec.flag_above)
        windows = training_set.windows
        metrics["holdout_window"] = f"{windows.holdout_start}..{windows.holdout_end}"
        if spec.is_classifier:  # what realized performance estimates unlabeled days with
            metrics["calibration_map"] = calibration_map(labels, predictions)
        # How sure the holdout figure is: decay is judged against it (core/monitor/drift.py).
        metrics["gate_metric_interval"] = metric_interval(
            metric, holdout["flight_date"], labels, predictions).as_dict()
        segments = pd.concat(
            [segment_metric(holdout, spec.label, predictions, column, spec.task, metric)
             for column in ("carrier", "origin")], ignore_index=True)
        model_metadata = model_store.read_metadata(directory)
        ablation = None
        if config.perfect_forecast_ablation:
            train = read_training_set(training_set, "train")
            ablation = perfect_forecast_ablation(train, holdout, spec, HINDSIGHT_WEATHER_COLUMNS,
                                                 metrics[metric])
            context.log.info(f"perfect-forecast ablation: {metric}"
                             f" {ablation['with_weather_at_departure']:.4f}")

        with warehouse.transaction() as con:
            registry.record_metrics(con, model.version, {**metrics, "perfect_forecast": ablation})
            history = registry.evaluated_models(con, spec.name)
        card = render_model_card(model_metadata, metrics, segments, ablation, spec)
        evaluation_dir = model_store.save_evaluation(
            spec.name, model.version,
            {"version": model.version, "metrics": metrics, "perfect_forecast": ablation,
             "segments": segments.to_dict(orient="records")}, card)

        context.log.info(f"{model.version}: holdout {metric} {metrics[metric]:.4f} on "
                         f"{metrics['rows']:,} rows")
        forecast = {}
        if ablation:
            forecast = {
                f"perfect_forecast_{metric}": for_people(metric,
                                                         ablation["with_weather_at_departure"]),
                "perfect_forecast_gain": for_people(metric, ablation["gain_over_served"]),
            }
        return Output(
            {"version": model.version, "metrics": metrics},
            metadata={
                "version": model.version,
                **{name: for_people(name, metrics[name]) for name in REPORTED[spec.task]
                   if metrics.get(name) is not None},
                **forecast,
                "threshold": spec.flag_above,
                "holdout_rows": metrics["rows"],
                "segments": MetadataValue.md(markdown_table(segments)),
                **_plots(spec, labels, predictions, training_set.cutoff),
                f"{metric}_by_cutoff": line_plot(
                    [m.cutoff for m in history], [m.metrics.get(metric) for m in history],
                    f"holdout {metric} by cutoff week (walk-forward)", metric),
                "model_card": MetadataValue.md(card),
                "evaluation": MetadataValue.path(str(evaluation_dir)),
            },
        )

    return evaluation
