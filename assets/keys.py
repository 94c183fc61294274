"""Every asset key and group of the platform, defined once. A key's path is the warehouse's
schema and table where there is one (raw/schedule is raw.schedule)."""

from dataclasses import dataclass

from dagster import AssetKey

from core.tables import table_name

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


CHAMPION = "champion"  # the last part of every ml/<model>/champion


@dataclass(frozen=True)
class ModelKeys:
    """The asset chain of one model spec, keyed by the model's name."""

    name: str

    def _ml(self, asset: str) -> AssetKey:
        return AssetKey([ML_GROUP, self.name, asset])

    @property
    def training_set(self) -> AssetKey:
        return self._ml("training_set")

    @property
    def model(self) -> AssetKey:
        return self._ml("model")

    @property
    def evaluation(self) -> AssetKey:
        return self._ml("evaluation")

    @property
    def champion(self) -> AssetKey:
        return self._ml(CHAMPION)

    @property
    def predictions(self) -> AssetKey:
        return self._ml("predictions")

    @property
    def shadow_predictions(self) -> AssetKey:
        return self._ml("shadow_predictions")

    @property
    def realized_performance(self) -> AssetKey:
        return AssetKey([MONITORING_GROUP, self.name, "realized_performance"])

    @property
    def drift_report(self) -> AssetKey:
        return AssetKey([MONITORING_GROUP, self.name, "drift_report"])

    @property
    def training(self) -> list[AssetKey]:
        """What one cutoff's training run materializes (the model's checks come with it)."""
        return [self.training_set, self.model, self.evaluation]

    @property
    def monitoring(self) -> list[AssetKey]:
        return [self.realized_performance, self.drift_report]

    def op_name(self, key: AssetKey) -> str:
        """The op name Dagster derives from an asset key (for run config)."""
        return "__".join(key.path)

    @property
    def retrain_job(self) -> str:
        return f"retrain_{self.name}"

    @property
    def review_job(self) -> str:
        return f"review_{self.name}"

    @property
    def review_op(self) -> str:
        """The one op of the review job, whose config is the operator's decision."""
        return f"operator_decision_{self.name}"


def table_of(key: AssetKey) -> str:
    """The warehouse table behind a key: raw/schedule -> raw.schedule,
    ml/not_on_time/predictions -> ml.not_on_time_predictions."""
    return table_name(key.path)
