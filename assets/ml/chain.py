"""One model spec -> its asset chain, keyed by the model's name:

ml/<model>/training_set -> ml/<model>/model (+ blocking checks) -> ml/<model>/evaluation
-> ml/<model>/champion (the gate) -> ml/<model>/predictions (served) and shadow_predictions
(the challenger's, never served) -> monitoring/<model>/realized_performance and drift_report;
with its retrain job and sensor, its review job for operators and its serving sensor.
"""

from dataclasses import dataclass

from dagster import AssetSelection, define_asset_job

from assets.features.point_in_time import PointInTimeAuditor
from assets.ml.champion import build_champion
from assets.ml.evaluation import build_evaluation
from assets.ml.model import build_model, build_model_checks
from assets.ml.predictions import build_predictions
from assets.ml.review import build_review_job
from assets.ml.shadow_predictions import build_shadow_predictions
from assets.ml.training_set import build_training_set
from assets.monitoring.drift_report import build_drift_report
from assets.monitoring.realized_performance import build_realized_performance
from core.model_spec import ModelSpec
from sensors.retrain import build_retrain_sensor
from sensors.serving import build_serving_sensor


@dataclass(frozen=True)
class ModelChain:
    assets: list
    checks: list
    jobs: list
    sensors: list


def build_model_chain(spec: ModelSpec, prediction_lead_days: int,
                      auditor: PointInTimeAuditor) -> ModelChain:
    training_set = build_training_set(spec, prediction_lead_days, auditor)
    model = build_model(spec)
    evaluation = build_evaluation(spec)
    champion = build_champion(spec)
    retrain_job = define_asset_job(
        f"retrain_{spec.name}",
        selection=AssetSelection.assets(training_set, model, evaluation, champion),
        description=f"Retrain {spec.name} at a cutoff; the gate promotes it only with evidence.",
    )
    return ModelChain(
        assets=[training_set, model, evaluation, champion,
                build_predictions(spec, prediction_lead_days),
                build_shadow_predictions(spec), build_realized_performance(spec),
                build_drift_report(spec)],
        checks=build_model_checks(spec),
        jobs=[retrain_job, build_review_job(spec)],
        sensors=[build_retrain_sensor(spec), build_serving_sensor(spec)],
    )
