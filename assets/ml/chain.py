"""One model spec -> its asset chain, keyed by the model's name:

ml/<model>/training_set -> ml/<model>/model (+ blocking checks) -> ml/<model>/evaluation
-> ml/<model>/champion -> ml/<model>/predictions -> monitoring/<model>/realized_performance
and monitoring/<model>/drift_report; with its retrain job, weekly schedule and drift sensor.
"""

from dataclasses import dataclass

from dagster import AssetSelection, define_asset_job

from assets.ml.champion import build_champion
from assets.ml.evaluation import build_evaluation
from assets.ml.model import build_model, build_model_checks
from assets.ml.predictions import build_predictions
from assets.ml.training_set import build_training_set
from assets.monitoring.drift_report import build_drift_report
from assets.monitoring.realized_performance import build_realized_performance
from core.model_spec import ModelSpec
from sensors.drift import build_drift_sensor
from sensors.retrain import build_retrain_schedule


@dataclass(frozen=True)
class ModelChain:
    assets: list
    checks: list
    jobs: list
    schedules: list
    sensors: list


def build_model_chain(spec: ModelSpec, prediction_lead_days: int) -> ModelChain:
    training_set = build_training_set(spec, prediction_lead_days)
    model = build_model(spec)
    evaluation = build_evaluation(spec)
    champion = build_champion(spec)
    retrain_job = define_asset_job(
        f"retrain_{spec.name}",
        selection=AssetSelection.assets(training_set, model, evaluation, champion),
        description=f"Retrain {spec.name} at a cutoff and promote it only if it beats the"
                    " champion.",
    )
    return ModelChain(
        assets=[training_set, model, evaluation, champion, build_predictions(spec),
                build_realized_performance(spec), build_drift_report(spec)],
        checks=build_model_checks(spec),
        jobs=[retrain_job],
        schedules=[build_retrain_schedule(spec)],
        sensors=[build_drift_sensor(spec)],
    )
