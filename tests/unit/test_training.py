"""The training rules (core/train/): windows, cutoffs, versions, hashes, inputs and the
quality floor, called directly. No Dagster, no warehouse (tests/e2e/test_model_lifecycle.py
proves the wiring)."""

import os
import subprocess
import sys
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from assets.partitions import latest_cutoff
from core.train.model_spec import Gate
from core.train.modeling import (
    INPUT_GRID,
    MISSING_CATEGORY,
    build_pipeline,
    export_onnx,
    model_inputs,
    train_pipeline,
    training_matrix,
)
from core.train.training_sets import (
    FrameStats,
    TrainingSetRef,
    TrainingWindowError,
    check_trainable,
    frame_hash,
    plan_windows,
    read_training_set,
    write_training_set,
)
from core.train.versions import version_id
from core.transform.model_inputs import ModelInputs

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


def stats_of(frame: pd.DataFrame, label: str, tmp_path) -> FrameStats:
    """What writing ``frame`` as a training set's train frame counts of it."""
    holdout = frame.iloc[:0]
    *_, stats, _ = write_training_set(tmp_path, batches_of({"train": frame, "holdout": holdout}),
                                      label)
    return stats["train"]


def batches_of(frames: dict[str, pd.DataFrame], batch_rows: int = 2) -> dict:
    """Each frame as a function opening its Arrow batches, as the warehouse hands them."""
    def opener(frame):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return lambda: pa.RecordBatchReader.from_batches(
            table.schema, table.to_batches(max_chunksize=batch_rows))
    return {name: opener(frame) for name, frame in frames.items()}


@pytest.mark.parametrize(
    "labels, message",
    [
        ([], "training window 2013-02-01..2013-02-07 has no labeled flights"),
        ([False, False, False],
         r"training window 2013-02-01..2013-02-07 has a single class \(False for all 3 rows"),
    ],
)
def test_untrainable_windows_are_named(labels, message, tmp_path):
    stats = stats_of(pd.DataFrame({LABEL: pd.Series(labels, dtype=bool)}), LABEL, tmp_path)
    with pytest.raises(TrainingWindowError, match=message):
        check_trainable(stats, CLASSIFIER, "training", date(2013, 2, 1), date(2013, 2, 7))


def test_a_regressor_trains_on_a_single_value_but_not_on_no_rows(tmp_path):
    one_value = stats_of(pd.DataFrame({"arr_delay": [5.0, 5.0, 5.0]}), "arr_delay",
                         tmp_path / "one")
    assert (one_value.rows, one_value.label_mean) == (3, 5.0)
    check_trainable(one_value, REGRESSOR, "training", date(2013, 2, 1), date(2013, 2, 7))
    with pytest.raises(TrainingWindowError, match="no labeled flights"):
        check_trainable(stats_of(pd.DataFrame({"arr_delay": pd.Series([], dtype=float)}),
                                 "arr_delay", tmp_path / "none"),
                        REGRESSOR, "training", date(2013, 2, 1), date(2013, 2, 7))


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


def test_a_training_set_streams_in_whatever_batches_and_reads_back_what_was_written(tmp_path):
    train = pd.DataFrame({"a": [1.0, 2.0, None, 4.0, 5.0], "n": pd.array([1, None, 3, 4, 5],
                          dtype="Int32"), LABEL: [True, False, True, True, False],
                          "flight_date": [date(2013, 3, 1)] * 3 + [date(2013, 3, 2)] * 2})
    holdout = pd.DataFrame({"a": [6.0], "n": pd.array([6], dtype="Int32"), LABEL: [True],
                            "flight_date": [date(2013, 3, 3)]})
    frames = {"train": train, "holdout": holdout}
    directory, content_hash, stats, digests = write_training_set(
        tmp_path / "a", batches_of(frames, batch_rows=2), LABEL)

    # The content, not the batches, names the set: one batch gives the same hash and folder.
    again, same_hash, _, _ = write_training_set(tmp_path / "b", batches_of(frames, 100), LABEL)
    assert same_hash == content_hash and again.name == directory.name == content_hash[:16]
    assert (stats["train"].rows, stats["holdout"].rows) == (5, 1)
    assert stats["train"].label_mean == pytest.approx(0.6)
    assert set(stats["train"].label_values) == {True, False}
    assert [p.name for p in (tmp_path / "a").iterdir()] == [directory.name]  # no staging left

    windows = plan_windows(date(2013, 3, 3), date(2013, 1, 1), date(2013, 3, 9), 1)
    ref = TrainingSetRef(cutoff=date(2013, 3, 3), directory=str(directory), windows=windows,
                         train_rows=5, holdout_rows=1, lineage={}, content_hash=content_hash,
                         file_digests=digests)
    read = read_training_set(ref, "train")
    # Days come back as pandas timestamps, as DuckDB's data frames hand them.
    assert read["flight_date"].dtype.kind == "M"
    pd.testing.assert_frame_equal(read, train.assign(flight_date=pd.to_datetime(
        train["flight_date"])), check_dtype=False)
    assert list(read_training_set(ref, "holdout", ["a"]).columns) == ["a"]

    train.assign(a=[1.0, 2.0, 3.0, 4.0, 9.0]).to_parquet(directory / "train.parquet",
                                                         index=False)
    with pytest.raises(ValueError, match="train.parquet changed since it was materialized"):
        read_training_set(ref, "train")
    read_training_set(ref, "holdout")  # the untouched file still reads


def test_a_training_set_that_fails_its_check_leaves_nothing(tmp_path):
    def refuse(stats):
        raise TrainingWindowError(f"{stats['train'].rows} rows")

    frames = {"train": pd.DataFrame({LABEL: [True]}), "holdout": pd.DataFrame({LABEL: [True]})}
    with pytest.raises(TrainingWindowError, match="1 rows"):
        write_training_set(tmp_path, batches_of(frames), LABEL, refuse)
    assert list(tmp_path.iterdir()) == []


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


@pytest.mark.parametrize("estimator, task", [("HistGradientBoostingClassifier", "classification"),
                                             ("HistGradientBoostingRegressor", "regression"),
                                             ("LogisticRegression", "classification")])
def test_training_in_stages_makes_the_model_pipeline_fit_makes(estimator, task):
    """The model step fits the encoding and the estimator apart, letting go of each form of the
    rows (core/train/modeling.py): the model, to its ONNX bytes, is Pipeline.fit's."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"dep_hour": rng.integers(5, 23, 300).astype(float),
                          "distance": rng.uniform(100, 2500, 300),
                          "temp_last": np.where(rng.random(300) < 0.1, np.nan,
                                                rng.normal(50, 15, 300)),
                          "carrier": rng.choice(["AA", "UA", "B6", None], 300),
                          "origin": rng.choice(["EWR", "JFK", "LGA"], 300),
                          "dest": rng.choice(["ATL", "ORD", "LAX", "BOS"], 300),
                          "y": rng.random(300) < 0.3})
    params = {"max_iter": 10, "random_state": 1} if estimator.startswith("Hist") else {}
    prepared, target = training_matrix(frame, "y", INPUTS, task)
    whole = build_pipeline(estimator, params, INPUTS).fit(prepared, target)
    staged = train_pipeline(frame, "y", estimator, params, INPUTS, task)
    assert export_onnx(staged, INPUTS, "m", task) == export_onnx(whole, INPUTS, "m", task)


EXPORT_IN_A_PROCESS = """
import hashlib
import numpy as np
import pandas as pd
from core.train.modeling import export_onnx, train_pipeline
from core.transform.model_inputs import ModelInputs
inputs = ModelInputs(("distance",), ("carrier",))
rng = np.random.default_rng(7)
frame = pd.DataFrame({"distance": rng.uniform(100, 2000, 400),
                      "carrier": rng.choice(["AA", "UA", "B6"], 400),
                      "late": rng.integers(0, 2, 400)})
pipeline = train_pipeline(frame, "late", "HistGradientBoostingClassifier",
                          {"max_iter": 5, "random_state": 1}, inputs, "classification")
print(hashlib.sha256(export_onnx(pipeline, inputs, "m", "classification")).hexdigest())
"""


def test_the_same_training_exports_the_same_onnx_bytes_in_any_process():
    """A retrain is another process, with another string hash seed: the ONNX bytes must not
    follow it (they did: skl2onnx ordered the opsets by a set; the M8 probe found it)."""
    digests = {subprocess.run([sys.executable, "-c", EXPORT_IN_A_PROCESS], check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True).stdout for seed in ("0", "1")}
    assert len(digests) == 1 and len(digests.pop().strip()) == 64
