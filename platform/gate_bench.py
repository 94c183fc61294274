"""`make gate-bench`: how often the gate promotes a challenger that is no better (the
false-promotion rate) and how often it promotes one that truly is (the power).

The year is landed and built into a temp deployment (raw, staging, labels, features through
Dagster). Then, at each of eight cutoffs from March to October, the classifier's spec is
trained on the 90 days before the cutoff's prediction time, several times:

  A        the spec's model (random_state 13)
  A seeds  the same data, random_state 1 and 2 (HistGradientBoosting's early stopping draws a
           random validation split)
  A draws  a bootstrap resample of the same training rows, twice
  W        the spec's model without the history inputs (outcome rates of the route, carrier,
           origin: 28 days and the day before): truly worse

and the gate judges pairs as it does in the loop: on the days from the cutoff on, looking again
each day as labels mature (7 to 28 days, the spec's min_days..max_days), stopping at its first
promote or reject (core/gate.decide on core/gate.measure). False promotion: champion and
challenger both from {A, A seeds, A draws}, every ordered pair. Power: champion W, challenger
any of them. Goals: false promotion <= 5 %, power >= 80 %. Results: .bench/gate.json.
"""

import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.feature_table import read_labeled  # noqa: E402
from core.gate import decide, measure  # noqa: E402
from core.model_inputs import ModelInputs  # noqa: E402
from core.model_spec import load_specs  # noqa: E402
from core.modeling import sklearn_predict, train_pipeline  # noqa: E402
from resources.settings import load_platform_module  # noqa: E402

CUTOFFS = [date(2013, 3, 3), date(2013, 4, 7), date(2013, 5, 5), date(2013, 6, 2),
           date(2013, 7, 7), date(2013, 8, 4), date(2013, 9, 1), date(2013, 10, 6)]
TRAIN_DAYS = 90
HISTORY_INPUTS = ("route_flights_28d", "route_late_rate_28d", "carrier_late_rate_28d",
                  "origin_hour_late_rate_28d", "origin_late_rate_1d", "carrier_late_rate_1d",
                  "origin_evening_late_rate_1d")
MODEL = "not_on_time"


class _Model:
    """What core/gate.decide reads of a model: its version and its blocking checks."""

    def __init__(self, name):
        self.version = name
        self.checks = {"onnx_matches_sklearn": {"passed": True},
                       "quality_floor": {"passed": True}}


def build_year(root: Path):
    sandbox, runner = load_platform_module("sandbox"), load_platform_module("runner")
    platform = sandbox.Platform(root, load_platform_module("definitions"), runner)
    platform.land(date(2013, 1, 1), date(2013, 12, 31))
    started = time.perf_counter()
    outcome = platform.materialize(date(2013, 1, 1), date(2013, 12, 31))
    if not all(outcome.values()):
        raise SystemExit(f"building the year failed: {outcome}")
    print(f"year built in {time.perf_counter() - started:.0f}s", flush=True)
    return platform


def fit_variants(spec, train):
    """name -> fitted pipeline and its inputs, for one cutoff's training rows."""
    weak = ModelInputs(tuple(c for c in spec.inputs.numeric if c not in HISTORY_INPUTS),
                       spec.inputs.categorical)
    rng = np.random.default_rng(0)
    plans = {"A": (train, spec.params, spec.inputs),
             "A seed 1": (train, {**spec.params, "random_state": 1}, spec.inputs),
             "A seed 2": (train, {**spec.params, "random_state": 2}, spec.inputs),
             "W": (train, spec.params, weak)}
    for draw in (1, 2):
        rows = rng.integers(0, len(train), len(train))
        plans[f"A draw {draw}"] = (train.iloc[rows], spec.params, spec.inputs)
    return {name: (train_pipeline(rows, spec.label, spec.estimator, params, inputs, spec.task),
                   inputs) for name, (rows, params, inputs) in plans.items()}


def sequential_gate(spec, frame, challenger, champion) -> tuple[str, int]:
    """The gate's first decision other than wait as the days mature, and on how many days."""
    days = frame["flight_date"].dt.date
    first = days.min()
    for look in range(spec.gate.min_days, spec.gate.max_days + 1):
        seen = (days < first + timedelta(days=look)).to_numpy()
        evidence = measure(spec.gate, spec.task, frame["flight_date"][seen],
                           frame[spec.label][seen], challenger[seen], champion[seen],
                           spec.flag_above)
        decision = decide(_Model("challenger"), _Model("champion"), evidence, spec.gate)
        if decision.action != "wait":
            return decision.action, look
    return "wait", spec.gate.max_days


def rate(hits: int, trials: int) -> dict:
    """A share with its Wilson 95% interval."""
    if not trials:
        return {"share": None, "trials": 0}
    z, p = 1.96, hits / trials
    center = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials ** 2)) / (1 + z * z / trials)
    return {"share": round(p, 3), "low": round(center - half, 3), "high": round(center + half, 3),
            "hits": hits, "trials": trials}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as work:
        platform = build_year(Path(work))
        spec = next(s for s in load_specs(platform.settings.model_specs_dir,
                                          platform.settings.dbt_manifest_path) if s.name == MODEL)
        lead = platform.settings.prediction_lead_days
        null, better, looks = [], [], []
        for number, cutoff in enumerate(CUTOFFS, 1):
            started = time.perf_counter()
            train_end = cutoff - timedelta(days=lead)
            with platform.warehouse.connect(read_only=True) as con:
                train = read_labeled(con, train_end - timedelta(days=TRAIN_DAYS - 1), train_end,
                                     spec.label, spec.feature_model)
                judged = read_labeled(con, cutoff, cutoff + timedelta(days=spec.gate.max_days - 1),
                                      spec.label, spec.feature_model)
            scores = {name: sklearn_predict(pipeline, judged, inputs, spec.task)
                      for name, (pipeline, inputs) in fit_variants(spec, train).items()}
            same = [name for name in scores if name != "W"]
            for champion in same:
                for challenger in same:
                    if challenger != champion:
                        action, days = sequential_gate(spec, judged, scores[challenger],
                                                       scores[champion])
                        null.append(action == "promote")
                        looks.append(days)
            for challenger in same:
                action, days = sequential_gate(spec, judged, scores[challenger], scores["W"])
                better.append(action == "promote")
            print(f"[{number}/{len(CUTOFFS)}] cutoff {cutoff}: {len(train):,} training rows,"
                  f" {len(judged):,} judged; promoted {sum(null[-20:])}/20 equal challengers,"
                  f" {sum(better[-5:])}/5 better ({time.perf_counter() - started:.0f}s)",
                  flush=True)
    results = {"false_promotion": rate(sum(null), len(null)),
               "power": rate(sum(better), len(better)),
               "median_days_to_decide_equal": float(np.median(looks)),
               "gate": {"margin": spec.gate.margin, "confidence": spec.gate.confidence,
                        "min_rows": spec.gate.min_rows, "min_days": spec.gate.min_days,
                        "max_days": spec.gate.max_days},
               "cutoffs": [str(c) for c in CUTOFFS], "train_days": TRAIN_DAYS}
    out = REPO_ROOT / ".bench" / "gate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    false, power = results["false_promotion"], results["power"]
    print(f"\nfalse-promotion rate {false['share']:.1%} ({false['hits']}/{false['trials']},"
          f" 95% {false['low']:.1%}..{false['high']:.1%}; goal <= 5%)")
    print(f"power                {power['share']:.1%} ({power['hits']}/{power['trials']},"
          f" 95% {power['low']:.1%}..{power['high']:.1%}; goal >= 80%)")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
