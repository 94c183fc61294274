"""Every sensor of the platform, registered here: the landing zone's new data, each model's
retraining on evidence and serving of a new champion, and the alerts on failed runs and on
the pipeline's burning error budgets. Sensors read assets/ (keys, what the instance records);
assets never import sensors."""

from dagster import AssetsDefinition

from assets.keys import ModelKeys
from assets.monitor.indicators import Sources
from core.monitor.service_levels import Objective
from core.train.model_spec import ModelSpec
from resources.settings import Settings
from sensors.alerts import build_alert_sensor
from sensors.new_data import build_new_data_sensor
from sensors.retrain import build_retrain_sensor
from sensors.service_levels import build_service_level_sensor
from sensors.serving import build_serving_sensor


def build_sensors(specs: list[ModelSpec], dbt_daily: AssetsDefinition, settings: Settings,
                  objectives: list[Objective], sources: Sources) -> list:
    alerts_file = settings.data_dir / "alerts.jsonl"
    return [
        build_new_data_sensor(list(dbt_daily.keys), [ModelKeys(spec.name) for spec in specs]),
        *(build_retrain_sensor(spec) for spec in specs),
        *(build_serving_sensor(spec) for spec in specs),
        build_alert_sensor(alerts_file),
        build_service_level_sensor(objectives, sources, alerts_file, settings.alert_webhook_url),
    ]
