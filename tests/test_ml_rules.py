"""The model lifecycle's rules, called directly: windows, cutoffs, versions, hashes, inputs and
the quality floor. No Dagster, no warehouse (tests/test_ml.py proves the wiring; the gate's
rules are in tests/test_gate.py)."""

from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from assets.partitions import latest_cutoff
from core.model_inputs import ModelInputs
from core.model_spec import Gate
from core.modeling import INPUT_GRID, MISSING_CATEGORY, model_inputs
from core.training_sets import (
    TrainingSetRef,
    TrainingWindowError,
    check_trainable,
    frame_hash,
    plan_windows,
    read_training_set,
    write_training_set,
)
from core.versions import version_id

INPUTS = ModelInputs(numeric=("dep_hour", "distance", "temp_last"),
                     categorical=("carrier", "origin", "dest"))

D = date.fromisoformat
LABEL = "is_late"
AUC_GATE = Gate("auc", worst_acceptable=0.6, margin=0.002, max_plausible_gain=0.1)
MAE_GATE = Gate("mae", worst_acceptable=40.0, margin=0.1, max_plausible_gain=3.0)
CLASSIFIER = SimpleNamespace(label=LABEL, is_classifier=True)
REGRESSOR = SimpleNamespace(label="arr_delay", is_classifier=False)


# --- training and holdout windows ------------------------------------------------------------

@pytest.mark.parametrize(
    "train_days, holdout_days, last_labeled, expected",
    [
        # default: every earlier labeled day, then 14 days from the cutoff
        (None, 14, "2013-03-31", ("2013-01-01", "2013-02-09", "2013-02-10", "2013-02-23")),
        # a trailing window: the 7 days before the cutoff
        (7, 14, "2013-03-31", ("2013-02-03", "2013-02-09", "2013-02-10", "2013-02-23")),
        # the holdout stops at the last labeled day
        (None, 14, "2013-02-12", ("2013-01-01", "2013-02-09", "2013-02-10", "2013-02-12")),
        # holdout_days null: every labeled day from the cutoff on
        (None, None, "2013-03-31", ("2013-01-01", "2013-02-09", "2013-02-10", "2013-03-31")),
        # a trailing window longer than the history starts at the first labeled day
        (90, 2, "2013-03-31", ("2013-01-01", "2013-02-09", "2013-02-10", "2013-02-11")),
    ],
)
def test_plan_windows(train_days, holdout_days, last_labeled, expected):
    windows = plan_windows(D("2013-02-10"), D("2013-01-01"), D(last_labeled), lead_days=1,
                           train_days=train_days, holdout_days=holdout_days)
    assert windows.as_tuple() == tuple(map(D, expected))


def test_training_ends_with_the_last_day_labeled_at_the_cutoffs_prediction_time():
    # Two days ahead: day C is scored at the end of C - 2, when C - 1 has no label yet.
    windows = plan_windows(D("2013-02-10"), D("2013-01-01"), D("2013-03-31"), lead_days=2)
    assert (windows.train_end, windows.holdout_start) == (D("2013-02-08"), D("2013-02-10"))


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({LABEL: []}), "training window 2013-02-01..2013-02-07 has no labeled flights"),
        (pd.DataFrame({LABEL: [False, False]}),
         "training window 2013-02-01..2013-02-07 has a single class"),
    ],
)
def test_untrainable_windows_are_named(frame, message):
    with pytest.raises(TrainingWindowError, match=message):
        check_trainable(frame, CLASSIFIER, "training", date(2013, 2, 1), date(2013, 2, 7))


def test_a_regressor_trains_on_a_single_value_but_not_on_no_rows():
    check_trainable(pd.DataFrame({"arr_delay": [5.0, 5.0]}), REGRESSOR, "training",
                    date(2013, 2, 1), date(2013, 2, 7))
    with pytest.raises(TrainingWindowError, match="no labeled flights"):
        check_trainable(pd.DataFrame({"arr_delay": []}), REGRESSOR, "training",
                        date(2013, 2, 1), date(2013, 2, 7))


@pytest.mark.parametrize(
    "last_labeled, expected",
    [
        ("2013-02-08", None),  # the first cutoff (Feb 3) would hold out only 6 days
        ("2013-02-09", "2013-02-03"),  # a full week after Feb 3
        ("2013-02-15", "2013-02-03"),
        ("2013-02-16", "2013-02-10"),
        ("2014-06-01", "2013-12-22"),  # after the data: the last weekly partition
    ],
)
def test_latest_cutoff_leaves_a_week_of_labels_to_hold_out(last_labeled, expected):
    assert latest_cutoff(D(last_labeled)) == expected


# --- the quality floor -------------------------------------------------------------------

def test_the_quality_floor_is_a_floor_for_auc_and_a_ceiling_for_mae():
    assert AUC_GATE.acceptable(0.61) and not AUC_GATE.acceptable(0.59)
    assert MAE_GATE.acceptable(39.0) and not MAE_GATE.acceptable(41.0)
    assert not AUC_GATE.acceptable(None)  # no AUC (a single class): not acceptable


# --- versions, hashes and model inputs ------------------------------------------------------

def test_version_id_depends_on_content_not_on_key_order():
    lineage = {"cutoff": "2013-02-10", "hyperparameters": {"max_iter": 200, "learning_rate": 0.1}}
    reordered = {"hyperparameters": {"learning_rate": 0.1, "max_iter": 200},
                 "cutoff": "2013-02-10"}
    assert version_id(lineage) == version_id(reordered)
    assert len(version_id(lineage)) == 12
    changed = {**lineage, "hyperparameters": {"max_iter": 201, "learning_rate": 0.1}}
    assert version_id(changed) != version_id(lineage)


def test_frame_hash_covers_values_columns_and_order():
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    same = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert frame_hash({"train": frame}) == frame_hash({"train": same})
    variants = [
        frame.assign(a=[1, 2, 4]),  # a value
        frame.rename(columns={"b": "c"}),  # a column name
        frame.iloc[::-1],  # the row order
        frame.iloc[:2],  # a row less
    ]
    for variant in variants:
        assert frame_hash({"train": variant}) != frame_hash({"train": frame})
    # Which frame is which matters too: train and holdout are not interchangeable.
    assert frame_hash({"train": frame, "holdout": frame.iloc[:1]}) != frame_hash(
        {"train": frame.iloc[:1], "holdout": frame})


def test_a_training_set_read_again_is_refused_once_its_files_changed(tmp_path):
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    holdout = pd.DataFrame({"a": [4.0], "b": ["w"]})
    write_training_set(tmp_path, train, holdout)
    windows = plan_windows(date(2013, 3, 3), date(2013, 1, 1), date(2013, 3, 9), 1)
    ref = TrainingSetRef(cutoff=date(2013, 3, 3), directory=str(tmp_path), windows=windows,
                         train_rows=3, holdout_rows=1, lineage={},
                         content_hash=frame_hash({"train": train, "holdout": holdout}))

    first, _ = read_training_set(ref)
    first.loc[0, "a"] = 99.0  # a caller's change stays its own
    again, _ = read_training_set(ref)
    pd.testing.assert_frame_equal(again, train, check_dtype=False)

    train.assign(a=[1.0, 2.0, 5.0]).to_parquet(tmp_path / "train.parquet", index=False)
    with pytest.raises(ValueError, match="changed since it was materialized"):
        read_training_set(ref)


def test_model_inputs_snap_numbers_to_the_grid_and_text_the_categories():
    row = {"dep_hour": 7, "distance": 1234.56789, "temp_last": None, "carrier": "UA",
           "origin": "EWR", "dest": None, LABEL: True, "flight_id": "x", "temp_at_departure": 3}
    inputs = model_inputs(pd.DataFrame([row]), INPUTS)

    assert list(inputs.columns) == INPUTS.columns  # the label, ids and hindsight are not inputs
    assert all(inputs[c].dtype == np.float32 for c in INPUTS.numeric)
    distance = float(inputs["distance"].iloc[0])
    assert distance == round(1234.56789 * INPUT_GRID) / INPUT_GRID  # exact in float32
    assert distance * INPUT_GRID == int(distance * INPUT_GRID)
    assert np.isnan(inputs["temp_last"].iloc[0])  # missing stays missing
    assert [inputs[c].iloc[0] for c in INPUTS.categorical] == ["UA", "EWR", MISSING_CATEGORY]


# --- metrics of either task ------------------------------------------------------------------

def test_regression_metrics_in_the_labels_units():
    from core.evaluation import regression_metrics

    metrics = regression_metrics([0.0, 10.0, 40.0], [5.0, 10.0, 16.0], flag_above=15.0)
    assert metrics["mae"] == pytest.approx((5 + 0 + 24) / 3)
    assert metrics["rmse"] == pytest.approx(((25 + 0 + 576) / 3) ** 0.5)
    assert metrics["bias"] == pytest.approx((5 + 0 - 24) / 3)
    # flagged: 16 (late 40: right); not flagged: 5 and 10 (on time: right)
    assert (metrics["precision"], metrics["recall"]) == (1.0, 1.0)


def _pandas_calibration_error(labels, probabilities, bins=10):
    """The expected calibration error as pandas defines its bins (qcut of first-ranks)."""
    frame = pd.DataFrame({"y": np.asarray(labels, dtype=float), "p": probabilities})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(bins, len(frame)),
                           labels=False)
    grouped = frame.groupby("bin").agg(y=("y", "mean"), p=("p", "mean"), n=("y", "size"))
    return (grouped["n"] * (grouped["y"] - grouped["p"]).abs()).sum() / len(frame)


@pytest.mark.parametrize("rows, ties, seed", [(1, False, 0), (7, False, 1), (900, False, 2),
                                              (900, True, 3), (2500, True, 4), (13, True, 5)])
def test_classification_metrics_are_scikit_learns(rows, ties, seed):
    from sklearn.metrics import (
        brier_score_loss,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    from core.evaluation import classification_metrics

    rng = np.random.default_rng(seed)
    probabilities = rng.beta(2, 5, rows)
    if ties:  # a model's scores repeat: few distinct values, some at the threshold exactly
        probabilities = np.round(probabilities * 20) / 20
    labels = (rng.random(rows) < probabilities).astype(int)
    labels[0] = 1 - labels[-1] if rows > 1 else labels[0]  # both classes, where rows allow
    metrics = classification_metrics(labels, probabilities, threshold=0.3)
    predicted = (probabilities >= 0.3).astype(int)
    if len(set(labels)) == 2:
        assert metrics["auc"] == pytest.approx(roc_auc_score(labels, probabilities), abs=1e-12)
    else:
        assert metrics["auc"] is None
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, probabilities, labels=[0, 1]),
                                                abs=1e-12)
    assert metrics["brier"] == pytest.approx(brier_score_loss(labels, probabilities), abs=1e-12)
    assert metrics["precision"] == pytest.approx(precision_score(labels, predicted,
                                                                 zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(labels, predicted, zero_division=0))
    assert metrics["calibration_error"] == pytest.approx(
        _pandas_calibration_error(labels, probabilities), abs=1e-12)


def test_metrics_of_a_single_class_and_of_nothing_flagged():
    from core.evaluation import classification_metrics

    metrics = classification_metrics([0, 0, 0], [0.1, 0.2, 0.2], threshold=0.5)
    assert metrics["auc"] is None
    assert (metrics["precision"], metrics["recall"]) == (0.0, 0.0)
    assert metrics["positive_rate"] == 0.0


def test_figures_are_rounded_to_what_matters():
    from core.evaluation import for_people

    assert for_people("auc", 0.694712) == 0.6947
    assert for_people("mae", 17.4567) == 17.5
    assert for_people("auc", None) is None
