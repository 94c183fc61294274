"""One model spec -> its assets, checks and jobs, keyed by the model's name:

ml/<model>/training_set -> ml/<model>/model (+ blocking checks) -> ml/<model>/evaluation
-> ml/<model>/champion (the gate) -> ml/<model>/predictions (served) and shadow_predictions
(the challenger's, never served) -> monitoring/<model>/realized_performance and drift_report;
with its retrain job and its review job for operators. Its sensors are sensors/'s.
"""

from dataclasses import dataclass

from dagster import AssetSelection, define_asset_job

from assets.gate.champion import build_champion
from assets.gate.review import build_review_job
from assets.monitor.drift_report import build_drift_report
from assets.monitor.realized_performance import build_realized_performance
from assets.serve.predictions import build_predictions
from assets.serve.shadow_predictions import build_shadow_predictions
from assets.train.evaluation import build_evaluation
from assets.train.model import build_model, build_model_checks
from assets.train.training_set import build_training_set
from assets.transform.point_in_time import PointInTimeAuditor
from core.train.model_spec import ModelSpec


@dataclass(frozen=True)
class ModelAssets:
    assets: list
    checks: list
    jobs: list


def build_model_assets(spec: ModelSpec, prediction_lead_days: int,
                       auditor: PointInTimeAuditor) -> ModelAssets:
    training_set = build_training_set(spec, prediction_lead_days, auditor)
    model = build_model(spec)
    evaluation = build_evaluation(spec)
    champion = build_champion(spec)
    retrain_job = define_asset_job(
        f"retrain_{spec.name}",
        selection=AssetSelection.assets(training_set, model, evaluation, champion),
        description=f"Retrain {spec.name} at a cutoff; the gate promotes it only with evidence.",
    )
    return ModelAssets(
        assets=[training_set, model, evaluation, champion,
                build_predictions(spec, prediction_lead_days),
                build_shadow_predictions(spec), build_realized_performance(spec),
                build_drift_report(spec)],
        checks=build_model_checks(spec),
        jobs=[retrain_job, build_review_job(spec)],
    )
