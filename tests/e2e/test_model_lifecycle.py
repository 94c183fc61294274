"""The model lifecycle of every model spec on a small window (Jan 1 .. Feb 12): cutoffs
2013-02-03 and 2013-02-10; the classifier (not_on_time) and the regressor (arrival_delay)."""

import hashlib
import json
import os
import pickle
import pwd
from pathlib import Path
from types import SimpleNamespace

import onnx
import pandas as pd
import pytest
from dagster import AssetCheckKey, AssetRecordsFilter

from assets.keys import ModelKeys
from assets.train.model import build_model_checks
from core.gate import registry
from core.train.model_spec import load_specs
from resources.model_store import ModelStore
from tests.conftest import CLASSIFIER
from tools.sandbox import SMALL_WINDOW

MODEL = ModelKeys(CLASSIFIER)
REGRESSOR = ModelKeys("arrival_delay")
FIRST_CUTOFF, SECOND_CUTOFF = "2013-02-03", "2013-02-10"


def train(platform, cutoff, train_days=None, holdout_days=14, **hyperparameters):
    """Trains the classifier only (the regressor's lifecycle is the ml fixture's)."""
    return platform.train(cutoff, train_days, holdout_days, [MODEL], **hyperparameters)


def registry_rows(platform, model=CLASSIFIER):
    with platform.warehouse.connect(read_only=True) as con:
        return con.execute(
            "select version, cutoff, stage from ml.model_registry where model_name = ?"
            " order by cutoff, created_at", [model]).fetchall()


def champion_of(platform, model=CLASSIFIER):
    with platform.warehouse.connect(read_only=True) as con:
        return registry.current_champion(con, model)


def latest_metadata(platform, key, partition=None):
    records = platform.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1).records
    return records[0].asset_materialization.metadata


def onnx_digests(platform) -> dict[str, str]:
    return {version: hashlib.sha256(Path(platform.settings.model_store_dir, model, version,
                                         "model.onnx").read_bytes()).hexdigest()
            for model in (CLASSIFIER, REGRESSOR.name)
            for version, _, _ in registry_rows(platform, model)}


@pytest.fixture(scope="module")
def ml(built_platform, tmp_path_factory):
    """One deployment taken through the lifecycle of both specs once; the tests below only read
    what happened (so none depends on another's order): two weekly cutoffs trained, the first
    promoted, the first trained again with the same inputs, Feb 1..12 scored and Feb 5 scored
    again, and a training window with no days."""
    platform = built_platform.clone(tmp_path_factory.mktemp("ml"), SMALL_WINDOW)
    happened = SimpleNamespace(platform=platform)
    assert platform.train(FIRST_CUTOFF).success
    assert platform.promote().success
    assert platform.train(SECOND_CUTOFF, perfect_forecast_ablation=True).success
    happened.registry, happened.digests = registry_rows(platform), onnx_digests(platform)
    happened.regressors = registry_rows(platform, REGRESSOR.name)

    happened.retrained = platform.train(FIRST_CUTOFF)
    happened.registry_after_retrain = registry_rows(platform)
    happened.digests_after_retrain = onnx_digests(platform)

    happened.scored = platform.execute([MODEL.predictions, REGRESSOR.predictions],
                                       partition_range=("2013-02-01", "2013-02-12"))
    happened.predictions = platform.query(
        "select model_version, count(*) from ml.not_on_time_predictions group by 1")
    happened.regressor_predictions = platform.query_frame(
        "select * from ml.arrival_delay_predictions")
    happened.predictions_before_rescoring = platform.query(
        "select * from ml.not_on_time_predictions order by all")
    happened.rescored = platform.execute([MODEL.predictions], partition_key="2013-02-05")
    happened.predictions_after_rescoring = platform.query(
        "select * from ml.not_on_time_predictions order by all")

    happened.empty_window = train(platform, FIRST_CUTOFF, train_days=0)
    happened.registry_after_empty_window = registry_rows(platform)
    return happened


def test_backtest_evaluates_each_cutoff_and_plots_auc_by_week(ml):
    with ml.platform.warehouse.connect(read_only=True) as con:
        evaluated = registry.evaluated_models(con, CLASSIFIER)
    assert [str(m.cutoff) for m in evaluated] == [FIRST_CUTOFF, SECOND_CUTOFF]
    assert all(0.55 < m.metrics["auc"] < 0.9 for m in evaluated)
    metadata = latest_metadata(ml.platform, MODEL.evaluation, SECOND_CUTOFF)
    for plot in ("roc", "calibration", "auc_by_cutoff"):
        assert "data:image/png;base64," in metadata[plot].value
    for metric in ("auc", "log_loss", "brier", "precision", "recall"):
        assert metric in metadata
    assert "| carrier |" in metadata["segments"].value and "| origin |" in metadata["segments"].value
    newest = evaluated[-1]
    card = Path(ml.platform.settings.model_store_dir, "evaluations", CLASSIFIER,
                newest.version, "model_card.md").read_text()
    assert newest.version in card and "Prediction time: the end of day D - 1" in card
    assert "What a perfect forecast would add" in card and "AUC" in card
    assert "perfect_forecast_gain" in metadata


def test_the_regressor_is_trained_gated_and_served_in_minutes(ml):
    """The same chain for a regression spec: MAE on its holdout, its own quality ceiling and
    ONNX parity, a champion, and served minutes for every scheduled flight."""
    with ml.platform.warehouse.connect(read_only=True) as con:
        evaluated = registry.evaluated_models(con, REGRESSOR.name)
        champion = registry.current_champion(con, REGRESSOR.name)
    assert [str(m.cutoff) for m in evaluated] == [FIRST_CUTOFF, SECOND_CUTOFF]
    for model in evaluated:
        assert 5 < model.metrics["mae"] < 40  # minutes; a median-like fit, not a constant
        assert model.checks["onnx_matches_sklearn"]["passed"]
        assert model.checks["onnx_matches_sklearn"]["value"] <= 1e-3
        assert model.checks["quality_floor"]["value"] == pytest.approx(model.metrics["mae"])
    assert str(champion.cutoff) == FIRST_CUTOFF
    metadata = latest_metadata(ml.platform, REGRESSOR.evaluation)
    assert "data:image/png;base64," in metadata["predicted_vs_actual"].value
    assert {"mae", "rmse", "bias", "mae_by_cutoff"} <= set(metadata)
    assert "auc" not in metadata
    card = Path(ml.platform.settings.model_store_dir, "evaluations", REGRESSOR.name,
                evaluated[-1].version, "model_card.md").read_text()
    assert "`arr_delay` (regression, HistGradientBoostingRegressor)" in card
    assert "| mae |" in card

    served = ml.regressor_predictions
    assert set(served["model_version"]) == {champion.version}
    scheduled = ml.platform.query("select count(*) from features.flight_features"
                                  " where flight_date between '2013-02-01' and '2013-02-12'")[0][0]
    assert len(served) == scheduled
    assert served["prediction"].between(-60, 300).all() and served["prediction"].nunique() > 100
    assert (served["flagged"] == (served["prediction"] >= 15.0)).all()


def test_training_set_is_split_at_the_cutoff_as_planned(ml):
    with ml.platform.warehouse.connect(read_only=True) as con:
        model = [m for m in registry.evaluated_models(con, CLASSIFIER)
                 if str(m.cutoff) == SECOND_CUTOFF][0]
    directory = Path(json.loads(Path(model.artifact_dir, "metadata.json").read_text())
                     ["training_set_dir"])
    train_rows = pd.read_parquet(directory / "train.parquet")
    holdout = pd.read_parquet(directory / "holdout.parquet")
    # The rows are every labeled flight of the planned windows (tests/unit/test_training.py plans
    # them): training ends the day before the cutoff, the day it is scored the evening before.
    labeled = ml.platform.query(
        "select min(flight_date), max(flight_date), count(*) from labels.flight_labels"
        " where flight_date between ? and ? and is_late is not null",
        [model.train_start, model.train_end])
    assert labeled == [(train_rows["flight_date"].min().date(),
                        train_rows["flight_date"].max().date(), len(train_rows))]
    assert model.train_end == pd.Timestamp(SECOND_CUTOFF).date() - pd.Timedelta(days=1)
    assert holdout["flight_date"].min() == pd.Timestamp(SECOND_CUTOFF)
    assert holdout["flight_date"].max().date() == model.holdout_end
    assert not set(train_rows["flight_id"]) & set(holdout["flight_id"])


def test_same_inputs_and_config_give_a_byte_identical_onnx(ml):
    assert ml.retrained.success
    # Same training set, same config: the same version, and the file's bytes did not change.
    assert ml.registry_after_retrain == ml.registry
    assert ml.digests_after_retrain == ml.digests
    assert len(ml.digests) == 4  # two cutoffs of two models


def test_scoring_writes_the_champion_version_on_every_row(ml):
    assert ml.scored.success
    champion = [version for version, _, stage in ml.registry if stage == "champion"]
    scheduled = ml.platform.query(
        "select count(*) from features.flight_features"
        " where flight_date between '2013-02-01' and '2013-02-12'")[0][0]
    assert ml.predictions == [(champion[0], scheduled)]  # every scheduled flight
    # Scoring a day again with the same champion changes nothing, not even when it was served.
    assert ml.rescored.success
    assert ml.predictions_after_rescoring == ml.predictions_before_rescoring


def test_empty_training_window_fails_and_leaves_the_registry_alone(ml):
    assert not ml.empty_window.success
    failure = next(e for e in ml.empty_window.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert "training window 2013-02-03..2013-02-02 has no labeled flights" in (
        error.cause or error).message
    assert ml.registry_after_empty_window == ml.registry


def test_trailing_training_window_comes_from_run_config(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    run_config = platform.runner.training_run_config([MODEL], train_days=7, holdout_days=2)
    assert platform.execute([MODEL.training_set], partition_key=SECOND_CUTOFF,
                            run_config=run_config).success
    metadata = latest_metadata(platform, MODEL.training_set)
    assert metadata["train_window"].value == "2013-02-03..2013-02-09"
    assert metadata["holdout_window"].value == "2013-02-10..2013-02-11"


def test_parity_check_fails_on_a_tampered_model(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    assert train(platform, FIRST_CUTOFF).success
    (version, _, _), = registry_rows(platform)
    path = Path(platform.settings.model_store_dir, CLASSIFIER, version, "model.onnx")
    model = onnx.load(path)
    trees = next(node for node in model.graph.node if node.op_type == "TreeEnsembleClassifier")
    weights = next(a for a in trees.attribute if a.name == "class_weights")
    weights.floats[:] = [w * 1.5 for w in weights.floats]  # a nudged model, as if edited
    onnx.save(model, path)

    # Run the check itself on the stored artifact, with the inputs Dagster handed it.
    handoffs = platform.settings.data_dir / "io" / "ml" / CLASSIFIER
    spec = next(spec for spec in load_specs(platform.settings.model_specs_dir,
                                            platform.settings.dbt_manifest_path, SMALL_WINDOW)
                if spec.name == CLASSIFIER)
    onnx_matches_sklearn = build_model_checks(spec)[0]
    evaluation = onnx_matches_sklearn(
        model=pickle.loads((handoffs / "model" / FIRST_CUTOFF).read_bytes()),
        training_set=pickle.loads((handoffs / "training_set" / FIRST_CUTOFF).read_bytes()),
        model_store=ModelStore(base_dir=str(platform.settings.model_store_dir)),
        warehouse=platform.warehouse,
    )
    assert evaluation.passed is False
    assert evaluation.metadata["max_abs_diff"].value > 1e-5
    with platform.warehouse.connect(read_only=True) as con:
        assert registry.get_model(con, version).checks["onnx_matches_sklearn"]["passed"] is False


def test_a_failing_blocking_check_stops_evaluation_and_promotion(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path, {CLASSIFIER: {"gate": {"worst_acceptable": 0.99}}})
    result = train(platform, FIRST_CUTOFF)
    assert not result.success
    floor = AssetCheckKey(MODEL.model, "quality_floor")
    assert {e.asset_check_key: e.passed for e in result.get_asset_check_evaluations()}[floor] is False
    materialized = {e.asset_key for e in result.get_asset_materialization_events()
                    for e in [e.event_specific_data.materialization]}
    assert MODEL.evaluation not in materialized

    assert not platform.execute([MODEL.champion]).success  # no champion to fall back on
    assert champion_of(platform) is None
    with platform.warehouse.connect(read_only=True) as con:
        reason = con.execute("select reason from ml.champion_decisions").fetchone()[0]
    assert "quality_floor" in reason


def test_rollback_restores_an_earlier_champion_and_records_who_and_why(built_platform, tmp_path, cli,
                                                                      monkeypatch):
    platform = built_platform.clone(tmp_path, SMALL_WINDOW)
    assert train(platform, FIRST_CUTOFF).success and platform.execute([MODEL.champion]).success
    first = champion_of(platform).version
    assert train(platform, SECOND_CUTOFF, max_iter=300).success
    with platform.warehouse.transaction() as con:  # force a second champion
        registry.make_champion(con, registry.newest_model(con, CLASSIFIER).version)
    assert champion_of(platform).version != first

    monkeypatch.setenv("WAREHOUSE_PATH", str(platform.settings.warehouse_path))
    monkeypatch.setenv("DAGSTER_HOME", str(platform.root / "dagster_home"))
    assert cli.main(["rollback", first, "--who", "ana", "--why", "bad predictions on Feb 11"]) == 0
    assert champion_of(platform).version == first
    stages = {version: stage for version, _, stage in registry_rows(platform)}
    assert sorted(stages.values()) == ["champion", "rolled_back"]
    with platform.warehouse.connect(read_only=True) as con:
        assert con.execute(
            "select action, champion_after, actor, reason from ml.champion_decisions"
            " order by decided_at desc limit 1"
        ).fetchone() == ("rollback", first, "ana", "bad predictions on Feb 11")

    # Without --who (and with no USER in the environment, as under cron), the OS user.
    second = next(version for version, _, stage in registry_rows(platform)
                  if stage == "rolled_back")
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    assert cli.main(["review", "promote", second, "--why", "the fix landed"]) == 0
    with platform.warehouse.connect(read_only=True) as con:
        actor = con.execute("select actor from ml.champion_decisions"
                            " order by decided_at desc limit 1").fetchone()[0]
    assert actor == pwd.getpwuid(os.getuid()).pw_name and actor != "unknown"

