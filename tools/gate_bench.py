"""`make gate-bench`: how often the gate promotes a challenger that is no better (the
false-promotion rate), how often it promotes one that truly is (the power), and how soon it
rejects a clearly worse one.

The year is landed and built into a temp deployment (raw, staging, labels, features through
Dagster). Then, at each of eight cutoffs from March to October, the classifier's spec is
trained on the 90 days before the cutoff's prediction time, several times:

  A        the spec's model (random_state 13)
  A seeds  the same data, random_state 1 and 2 (HistGradientBoosting's early stopping draws a
           random validation split)
  A draws  a bootstrap resample of the same training rows, twice
  W        the spec's model without the history inputs (outcome rates of the route, carrier,
           origin: 28 days and the day before)
  S        the spec's model on the schedule and the aircraft only (no history, no weather)
  C        the spec's model crippled: 5 boosting iterations instead of its 300

and the gate judges pairs as it does in the loop: on the days from the cutoff on, as their
labels mature day by day up to the spec's horizon (max_days), looking when a look is due
(core/gate.look_due) with the alpha-spending boundaries of core/gate/sequential.py, and stopping at
its first decision other than wait. A second pass judges the same pairs as a challenger that
arrives with four weeks of evidence already matured: its first look sees 28 days at once.

False promotion: champion and challenger both from {A, A seeds, A draws}, every ordered pair.
Power: champion W (or S), challenger any of those. Crippled: challenger C against each of
those: rejected before the horizon, and on how many days. Each comparison's true AUC gain on
all its days is printed beside it. Goals: false promotion <= 5 %, power >= 80 % against S
(a true gain of about +0.04). Results: .bench/gate.json; --keep DIR keeps the scores, to judge
again without training.
"""

import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

import definitions
import runner
from core.gate.decision import decide, look_due, measure
from core.train.model_spec import load_specs
from core.train.modeling import sklearn_predict, train_pipeline
from core.transform.feature_table import read_labeled
from core.transform.model_inputs import ModelInputs
from resources.settings import REPO_ROOT
from tools.sandbox import Platform, make_settings

CUTOFFS = [date(2013, 3, 3), date(2013, 4, 7), date(2013, 5, 5), date(2013, 6, 2),
           date(2013, 7, 7), date(2013, 8, 4), date(2013, 9, 1), date(2013, 10, 6)]
TRAIN_DAYS = 90
# The weaker champions power is measured against, and what they lack.
WEAKER = {"W": "the model without the history inputs",
          "S": "the model on the schedule and aircraft only"}
EQUAL = ["A", "A seed 1", "A seed 2", "A draw 1", "A draw 2"]
CRIPPLED = "C"  # 5 boosting iterations: worse on most days
AT_ONCE_DAYS = 28  # the second pass: a challenger judged with this many days already matured
WEATHER_PREFIXES = ("temp", "visib", "humid", "dewp", "wind", "precip", "gust", "pressure")
HISTORY_INPUTS = ("route_flights_28d", "route_late_rate_28d", "carrier_late_rate_28d",
                  "origin_hour_late_rate_28d", "origin_late_rate_1d", "carrier_late_rate_1d",
                  "origin_evening_late_rate_1d")
MODEL = "not_on_time"


class _Model:
    """What core/gate.decide reads of a model: its version, its checks and holdout metrics."""

    def __init__(self, name):
        self.version = name
        self.metrics = {}
        self.checks = {"onnx_matches_sklearn": {"passed": True},
                       "quality_floor": {"passed": True}}


def build_year(root: Path):
    platform = Platform(root, definitions, runner)
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
    schedule_only = ModelInputs(tuple(c for c in weak.numeric
                                      if not c.startswith(WEATHER_PREFIXES)),
                                spec.inputs.categorical)
    rng = np.random.default_rng(0)
    plans = {"A": (train, spec.params, spec.inputs),
             "A seed 1": (train, {**spec.params, "random_state": 1}, spec.inputs),
             "A seed 2": (train, {**spec.params, "random_state": 2}, spec.inputs),
             "W": (train, spec.params, weak), "S": (train, spec.params, schedule_only),
             CRIPPLED: (train, {**spec.params, "max_iter": 5}, spec.inputs)}
    for draw in (1, 2):
        rows = rng.integers(0, len(train), len(train))
        plans[f"A draw {draw}"] = (train.iloc[rows], spec.params, spec.inputs)
    return {name: (train_pipeline(rows, spec.label, spec.estimator, params, inputs, spec.task),
                   inputs) for name, (rows, params, inputs) in plans.items()}


def sequential_gate(spec, frame, challenger, champion, first_look_days: int = 0
                    ) -> tuple[str, int]:
    """The gate's first decision other than wait as the days mature (its first look seeing at
    least ``first_look_days``), and on how many days."""
    gate = spec.gate
    days = frame["flight_date"].dt.date.to_numpy()
    ordered = np.array(sorted(set(days)))
    looks: tuple[int, ...] = ()
    for seen_days in range(max(gate.min_days, first_look_days), len(ordered) + 1):
        seen = days <= ordered[seen_days - 1]
        if seen.sum() < gate.min_rows or not look_due(gate, seen_days, looks):
            continue
        evidence = measure(gate, spec.task, frame["flight_date"][seen], frame[spec.label][seen],
                           challenger[seen], champion[seen], spec.flag_above)
        decision = decide(_Model("challenger"), _Model("champion"), evidence, gate,
                          previous_looks=looks)
        if decision.look is not None:
            looks += (decision.look.days,)
        if decision.action != "wait":
            return decision.action, seen_days
    return "wait", len(ordered)


def rate(hits: int, trials: int) -> dict:
    """A share with its Wilson 95% interval."""
    if not trials:
        return {"share": None, "trials": 0}
    z, p = 1.96, hits / trials
    center = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials ** 2)) / (1 + z * z / trials)
    return {"share": round(p, 3), "low": round(max(center - half, 0.0), 3),
            "high": round(min(center + half, 1.0), 3),
            "hits": hits, "trials": trials}


def score_cutoffs(work: Path, gate_overrides: dict | None = None,
                  spec_filter=MODEL) -> tuple[object, dict]:
    """The spec and, per cutoff, the judged days' labels and every variant's scores. Kept in
    ``work`` (scores-<cutoff>.parquet), so that judging again with another gate is quick."""
    import pandas as pd

    cached = sorted(work.glob("scores-*.parquet"))
    platform = None
    if len(cached) < len(CUTOFFS):
        platform = build_year(work / "year")
    settings = platform.settings if platform else make_settings(
        work / "year")
    overrides = {spec_filter: {"gate": gate_overrides}} if gate_overrides else None
    spec = next(s for s in load_specs(settings.model_specs_dir, settings.dbt_manifest_path,
                                      overrides) if s.name == spec_filter)
    scored = {}
    for number, cutoff in enumerate(CUTOFFS, 1):
        path = work / f"scores-{cutoff}.parquet"
        if path.exists():
            scored[cutoff] = pd.read_parquet(path)
            continue
        started = time.perf_counter()
        train_end = cutoff - timedelta(days=settings.prediction_lead_days)
        with platform.warehouse.connect(read_only=True) as con:
            train = read_labeled(con, train_end - timedelta(days=TRAIN_DAYS - 1), train_end,
                                 spec.label, spec.feature_model)
            judged = read_labeled(con, cutoff, cutoff + timedelta(days=spec.gate.max_days - 1),
                                  spec.label, spec.feature_model)
        frame = judged[["flight_date", spec.label]].rename(columns={spec.label: "label"})
        for name, (pipeline, inputs) in fit_variants(spec, train).items():
            frame[name] = sklearn_predict(pipeline, judged, inputs, spec.task)
        frame.to_parquet(path)
        scored[cutoff] = frame
        print(f"[{number}/{len(CUTOFFS)}] cutoff {cutoff}: {len(train):,} training rows,"
              f" {len(judged):,} judged ({time.perf_counter() - started:.0f}s)", flush=True)
    return spec, scored


def judge(spec, scored: dict, first_look_days: int = 0) -> dict:
    """Every ordered pair of equal models (false promotions), each of them against each
    weaker one (power) and the crippled one against each of them, through the sequential
    gate; with the true gains on all the days judged."""
    from sklearn.metrics import roc_auc_score

    kinds = ("equal", *WEAKER, CRIPPLED)
    outcomes = {kind: [] for kind in kinds}
    gains = {kind: [] for kind in kinds}
    for frame in scored.values():
        labeled = frame.rename(columns={"label": spec.label})
        auc = {name: roc_auc_score(frame["label"], frame[name])
               for name in (*EQUAL, *WEAKER, CRIPPLED)}
        pairs = [("equal", challenger, champion) for champion in EQUAL for challenger in EQUAL
                 if challenger != champion]
        pairs += [(weak, challenger, weak) for weak in WEAKER for challenger in EQUAL]
        pairs += [(CRIPPLED, CRIPPLED, champion) for champion in EQUAL]
        for kind, challenger, champion in pairs:
            action, days = sequential_gate(spec, labeled, frame[challenger].to_numpy(),
                                           frame[champion].to_numpy(), first_look_days)
            outcomes[kind].append((action, days))
            gains[kind].append(auc[challenger] - auc[champion])
    horizon = spec.gate.max_days
    crippled = outcomes[CRIPPLED]
    rejected_early = [days for action, days in crippled if action == "reject" and days < horizon]
    return {
        "false_promotion": rate(sum(a == "promote" for a, _ in outcomes["equal"]),
                                len(outcomes["equal"])),
        "power": {weak: rate(sum(a == "promote" for a, _ in outcomes[weak]),
                             len(outcomes[weak])) for weak in WEAKER},
        "days_to_promote": {weak: _median([d for a, d in outcomes[weak] if a == "promote"])
                            for weak in WEAKER},
        # where the power goes: rejected on evidence, rejected at the horizon, promoted
        "outcomes": {kind: {"promoted": sum(a == "promote" for a, _ in found),
                            "held_for_an_operator": sum(a == "hold" for a, _ in found),
                            "rejected_early": sum(a == "reject" and d < horizon for a, d in found),
                            "rejected_at_horizon": sum(a == "reject" and d >= horizon
                                                       for a, d in found),
                            "undecided": sum(a == "wait" for a, _ in found)}
                     for kind, found in outcomes.items()},
        "crippled_rejected_before_horizon": rate(len(rejected_early), len(crippled)),
        "crippled_promoted": rate(sum(a == "promote" for a, _ in crippled), len(crippled)),
        "days_to_reject_crippled": _median(rejected_early),
        "true_auc_gain": {kind: {"mean": round(float(np.mean(v)), 4),
                                 "min": round(float(np.min(v)), 4),
                                 "max": round(float(np.max(v)), 4)}
                          for kind, v in gains.items()},
        "gate": {name: getattr(spec.gate, name) for name in
                 ("metric", "margin", "alpha", "spending", "min_rows", "min_days",
                  "look_every_days", "max_days")},
        "first_look_days": first_look_days,
        "cutoffs": [str(c) for c in CUTOFFS], "train_days": TRAIN_DAYS}


def _median(values: list[int]) -> float | None:
    return float(np.median(values)) if values else None


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="keep the year and the scores in this folder"
                                                  " (judge again without training)")
    parser.add_argument("--horizon", type=int, help="the spec's gate.max_days, changed")
    parser.add_argument("--margin", type=float, help="the spec's gate.margin, changed")
    args = parser.parse_args(argv)
    overrides = {name: value for name, value in (("max_days", args.horizon),
                                                 ("margin", args.margin)) if value is not None}
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        spec, scored = score_cutoffs(work, overrides)
        results = {"as_labels_mature": judge(spec, scored),
                   f"with_{AT_ONCE_DAYS}_days_at_once": judge(spec, scored, AT_ONCE_DAYS)}
    out = REPO_ROOT / ".bench" / "gate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")

    def line(what, figure, goal, gain=None):
        shown = (f"{what:<52}{figure['share']:>6.1%} ({figure['hits']}/{figure['trials']}, 95%"
                 f" {figure['low']:.1%}..{figure['high']:.1%}{'; goal ' + goal if goal else ''})")
        if gain:
            shown += (f"; true AUC gain {gain['mean']:+.4f} ({gain['min']:+.4f}.."
                      f"{gain['max']:+.4f})")
        print(shown)

    for mode, result in results.items():
        gains = result["true_auc_gain"]
        print(f"\n{mode.replace('_', ' ')}:")
        line("false promotion (same data, seed or resample)", result["false_promotion"],
             "<= 5%", gains["equal"])
        for weak, figure in result["power"].items():
            line(f"power against {WEAKER[weak]}", figure, ">= 80%" if weak == "S" else "",
                 gains[weak])
            print(f"{'':<52}median days to promote: {result['days_to_promote'][weak]};"
                  f" {result['outcomes'][weak]}")
        line("crippled challenger rejected before the horizon",
             result["crippled_rejected_before_horizon"], "", gains[CRIPPLED])
        print(f"{'':<52}median days to reject: {result['days_to_reject_crippled']};"
              f" promoted {result['crippled_promoted']['share']:.1%}")
    print(f"\ngate: {results['as_labels_mature']['gate']}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
