"""Which declared inputs carry the champion's accuracy? (`make input-gain`, after `make run`)

Refits the champion's own pipeline (same hyperparameters, same training rows) on growing groups
of its declared inputs and prints each AUC on the champion's holdout from ``--from`` on
(default Oct 1, the plain reference script's split). A one-off analysis: nothing is stored.
"""

import argparse
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from core.evaluate.metrics import classification_metrics
from core.gate import registry
from core.train.modeling import sklearn_predict, train_pipeline
from core.train.training_sets import read_verified
from core.transform.model_inputs import ModelInputs
from resources.model_store import ModelStore
from resources.settings import Settings

# The reference set of the day-ahead issue: the schedule, the aircraft, the planned congestion
# and the outcome history up to D - 1. Every other declared input is added by group.
REFERENCE = ["dep_hour", "day_of_week", "distance", "plane_age_years", "plane_seats",
             "origin_hour_departures", "origin_day_departures", "route_flights_28d",
             "route_late_rate_28d", "carrier_late_rate_28d", "origin_hour_late_rate_28d",
             "origin_late_rate_1d", "carrier_late_rate_1d"]
EVENING_RATE = ["origin_evening_late_rate_1d"]


def groups(numeric: tuple[str, ...]) -> dict[str, list[str]]:
    known = set(numeric)
    missing = [name for name in REFERENCE + EVENING_RATE if name not in known]
    if missing:
        raise SystemExit(f"not declared inputs of the champion any more: {missing}")
    weather = [name for name in numeric if name not in REFERENCE + EVENING_RATE]
    return {"reference: schedule, aircraft, congestion, history": REFERENCE,
            "+ yesterday evening's late rate": REFERENCE + EVENING_RATE,
            "+ the weather observed on D - 1": REFERENCE + weather,
            "all declared inputs": list(numeric)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=date.fromisoformat,
                        default=date(2013, 10, 1))
    args = parser.parse_args()
    settings = Settings.from_env()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        champion = registry.current_champion(con, "not_on_time")
    if champion is None:
        raise SystemExit("no champion: run `make run` first")
    directory = Path(champion.artifact_dir)
    metadata = ModelStore.read_metadata(directory)
    store = ModelStore(base_dir=str(settings.model_store_dir))
    declared = store.inputs_of(directory)
    training_dir = Path(metadata["training_set_dir"])
    try:
        train, holdout = (read_verified(training_dir, metadata["training_set_files"], frame)
                          for frame in ("train", "holdout"))
    except (KeyError, TypeError, ValueError) as error:
        raise SystemExit(f"{training_dir} is not the training set the champion was fitted on"
                         f" ({error})") from error
    holdout = holdout[holdout["flight_date"] >= pd.Timestamp(args.first)]
    label = metadata["label"]
    print(f"champion {champion.version}: {len(train):,} training rows, AUC on {len(holdout):,}"
          f" holdout flights from {args.first}")
    for name, numeric in groups(declared.numeric).items():
        inputs = ModelInputs(numeric=tuple(numeric), categorical=declared.categorical)
        pipeline = train_pipeline(train, label, metadata["estimator"], metadata["hyperparameters"],
                                  inputs, "classification")
        probabilities = sklearn_predict(pipeline, holdout, inputs, "classification")
        auc = classification_metrics(holdout[label], probabilities, 0.5)["auc"]
        print(f"  {name:<55} {len(numeric) + len(inputs.categorical):>3} inputs  AUC {auc:.4f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
