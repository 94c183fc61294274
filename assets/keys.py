"""Every asset key and group of the platform, defined once. A key's path is the warehouse's
schema and table where there is one (raw/schedule is raw.schedule)."""

from dagster import AssetKey

# groups, in data-flow order
RAW_GROUP, STAGING_GROUP, FEATURES_GROUP, LABELS_GROUP = "raw", "staging", "features", "labels"
ML_GROUP, MONITORING_GROUP = "ml", "monitoring"


def raw_key(table: str) -> AssetKey:
    return AssetKey([RAW_GROUP, table])


STAGING = {name: AssetKey([STAGING_GROUP, name])
           for name in ("stg_schedule", "stg_outcomes", "stg_weather", "stg_planes")}
FEATURES = AssetKey([FEATURES_GROUP, "flight_features"])
LABELS = AssetKey([LABELS_GROUP, "flight_labels"])
WEATHER_AT_DEPARTURE = AssetKey([LABELS_GROUP, "weather_at_departure"])
# The dbt models a trained model's inputs come from: their code versions are its lineage.
FEATURE_LINEAGE = (*STAGING.values(), LABELS, FEATURES)

TRAINING_SET = AssetKey([ML_GROUP, "training_set"])
MODEL = AssetKey([ML_GROUP, "delay_model"])
EVALUATION = AssetKey([ML_GROUP, "model_evaluation"])
CHAMPION = AssetKey([ML_GROUP, "champion"])
PREDICTIONS = AssetKey([ML_GROUP, "predictions"])
REALIZED_PERFORMANCE = AssetKey([MONITORING_GROUP, "realized_performance"])
DRIFT_REPORT = AssetKey([MONITORING_GROUP, "drift_report"])


def table_of(key: AssetKey) -> str:
    """The warehouse table behind a key: raw/schedule -> raw.schedule."""
    return ".".join(key.path)
