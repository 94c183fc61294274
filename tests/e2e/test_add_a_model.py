"""A data scientist adds a model with one YAML file: in a copy of model_specs/, a third spec
(a linear classifier on a subset of the declared inputs) gets its own chain, materialized end
to end, and the shipped models are left alone."""

import shutil
from pathlib import Path

import onnx

from assets.keys import ModelKeys
from core.gate import registry
from resources.settings import REPO_ROOT
from tools.sandbox import SMALL_WINDOW

FIRST_CUTOFF = "2013-02-03"

THIRD_SPEC = """
name: late_linear
description: A linear baseline of not on time, from a few inputs.
feature_model: flight_features
label: is_late
task: classification
inputs: [dep_hour, distance, route_late_rate_28d, carrier, origin]
estimator:
  class: LogisticRegression
  params: {C: 1.0, max_iter: 500}
gate: {metric: auc, worst_acceptable: 0.5, margin: 0.002, max_plausible_gain: 0.1}
serving: {flag_above: 0.3}
"""


def test_a_third_spec_gets_its_own_chain(built_platform, tmp_path):
    """A data scientist's new model: one YAML file in a copy of model_specs/, nothing else."""
    specs = tmp_path / "model_specs"
    shutil.copytree(REPO_ROOT / "model_specs", specs)
    (specs / "late_linear.yaml").write_text(THIRD_SPEC)
    platform = built_platform.clone(tmp_path / "platform", SMALL_WINDOW, model_specs_dir=specs)
    third = ModelKeys("late_linear")
    assert [model.name for model in platform.models] == ["arrival_delay", "late_linear",
                                                         "not_on_time"]
    assert platform.train(FIRST_CUTOFF, models=[third]).success
    assert platform.promote([third]).success
    days = ("2013-02-03", "2013-02-12")
    assert platform.execute([third.predictions], partition_range=days).success
    assert platform.execute(third.monitoring, partition_range=days).success

    with platform.warehouse.connect(read_only=True) as con:
        champion = registry.current_champion(con, "late_linear")
    assert champion.checks["onnx_matches_sklearn"]["passed"]
    assert 0.5 < champion.metrics["auc"] < 0.9
    inputs = [i.name for i in onnx.load(Path(champion.artifact_dir) / "model.onnx").graph.input]
    assert inputs == ["dep_hour", "distance", "route_late_rate_28d", "carrier", "origin"]
    assert platform.query("select count(*), count(distinct model_version)"
                          " from ml.late_linear_predictions") == [(platform.query(
                              "select count(*) from features.flight_features"
                              " where flight_date between ? and ?", list(days))[0][0], 1)]
    performance = platform.query_frame("select * from monitoring.late_linear_realized_performance")
    # one row per served day, judged on that day's labeled flights (a linear model's daily AUC
    # swings, Feb 9 after the blizzard included: the figures are the wiring's, not a quality bar)
    labeled = platform.query(
        "select p.flight_date, count(*) from ml.late_linear_predictions p join"
        " labels.flight_labels l using (flight_id, flight_date) where l.is_late is not null"
        " and not p.in_sample group by 1 order by 1")
    assert [(row.flight_date.date(), row.rows) for row in performance.sort_values(
        "flight_date").itertuples()] == labeled
    assert performance["auc"].notna().all()
    # the other models were left alone
    assert platform.query("select count(*) from ml.model_registry"
                          " where model_name <> 'late_linear'") == [(0,)]
