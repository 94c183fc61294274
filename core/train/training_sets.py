"""Training sets: which days a model may learn from and be judged on, and the frames themselves.

A model with cutoff C serves the days from C on. Day C is scored at the end of day
C - lead (the prediction time), when the labels up to C - lead are known: that is where
training ends. The holdout is the labeled days from C on, which the model never saw.
Frames are streamed into Parquet in a folder named by their content hash, and a reader refuses
a file that changed since.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.ingest.contract import file_sha256


class TrainingWindowError(ValueError):
    """A training window that cannot train a model; the message names the window."""


@dataclass(frozen=True)
class Windows:
    train_start: date
    train_end: date
    holdout_start: date
    holdout_end: date

    def as_tuple(self) -> tuple[date, date, date, date]:
        return self.train_start, self.train_end, self.holdout_start, self.holdout_end


def plan_windows(cutoff: date, first_labeled: date, last_labeled: date, lead_days: int,
                 train_days: int | None = None, holdout_days: int | None = 14) -> Windows:
    """The training window ends with the last day labeled at the cutoff's prediction time
    (cutoff - lead); it starts ``train_days`` earlier (None: at the first labeled day). The
    holdout runs from the cutoff for ``holdout_days`` (None: to the last labeled day)."""
    train_end = cutoff - timedelta(days=lead_days)
    train_start = first_labeled
    if train_days is not None:
        train_start = max(first_labeled, train_end - timedelta(days=train_days - 1))
    holdout_end = last_labeled
    if holdout_days is not None:
        holdout_end = min(last_labeled, cutoff + timedelta(days=holdout_days - 1))
    return Windows(train_start, train_end, cutoff, holdout_end)


@dataclass(frozen=True)
class FrameStats:
    """What a training set's frame holds, counted as it was written."""

    rows: int
    label_sum: float
    label_values: tuple  # its first two distinct labels: enough to tell a single class

    @property
    def label_mean(self) -> float | None:
        return self.label_sum / self.rows if self.rows else None


@dataclass(frozen=True)
class TrainingSetRef:
    """What ml/training_set hands downstream: where its Parquet files are and what they hold."""

    cutoff: date
    directory: str
    windows: Windows
    train_rows: int
    holdout_rows: int
    content_hash: str
    lineage: dict  # the prediction time, the label's definition: what the rows mean
    # Each file's SHA-256 as written: a reader refuses a file that changed since.
    file_digests: dict | None = None


TRAINING_SET_FILES = {"train": "train.parquet", "holdout": "holdout.parquet"}
# DuckDB keeps up to 80 % of the machine's memory by default; a read of years of flights spills
# its sort to disk past this instead (measured at ten years: 1.5 GB peak, 2.5 GB unbounded).
READ_MEMORY_LIMIT = "1GB"
# Whole-frame pandas dtypes that do not depend on which rows a batch holds: Arrow's default
# turns an integer or boolean column with a null into floats or objects, batch by batch.
_STABLE_DTYPES = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(),
}


class _ContentDigest:
    """A content hash of named frames (values, columns, order), fed whole or batch by batch:
    a row's hash depends on that row alone, so the batches' boundaries do not change it."""

    def __init__(self):
        self._digest = hashlib.sha256()

    def frame(self, name: str, columns: list[str]) -> None:
        self._digest.update(name.encode())
        self._digest.update(json.dumps(columns).encode())

    def rows(self, frame: pd.DataFrame) -> None:
        self._digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def frame_hash(frames: dict[str, pd.DataFrame]) -> str:
    """A content hash of data frames (values, columns, order), independent of file bytes."""
    digest = _ContentDigest()
    for name in sorted(frames):
        digest.frame(name, list(frames[name].columns))
        digest.rows(frames[name])
    return digest.hexdigest()


def write_training_set(
    root: Path, frames: Mapping[str, Callable[[], pa.RecordBatchReader]], label: str,
    check: Callable[[dict[str, FrameStats]], None] = lambda stats: None,
) -> tuple[Path, str, dict[str, FrameStats], dict[str, str]]:
    """Stream ``frames`` ({"train": ..., "holdout": ...}, each a function opening its Arrow
    batches) into Parquet files, one batch in memory at a time; ``check`` what they hold; move
    them into a folder of ``root`` named by their content. A failed write or check leaves
    nothing in ``root``. Returns the folder, the content hash, what each frame holds and each
    file's SHA-256."""
    digest, stats = _ContentDigest(), {}
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the set from other users' readers
    try:
        for name in sorted(frames):  # the hash covers the frames in name order
            stats[name] = _write_frame(frames[name](), staging / TRAINING_SET_FILES[name], name,
                                       label, digest)
        check(stats)
        content_hash = digest.hexdigest()
        directory = root / content_hash[:16]
        _publish(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    digests = {name: file_sha256(directory / file) for name, file in TRAINING_SET_FILES.items()}
    return directory, content_hash, stats, digests


def _write_frame(batches: pa.RecordBatchReader, path: Path, name: str, label: str,
                 digest: _ContentDigest) -> FrameStats:
    # Days as timestamps, as DuckDB hands a data frame: readers compare them with pandas'.
    schema = pa.schema([field.with_type(pa.timestamp("us")) if pa.types.is_date(field.type)
                        else field for field in batches.schema])
    digest.frame(name, schema.names)
    rows, label_sum, label_values = 0, 0.0, []
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            batch = batch.cast(schema)
            writer.write_batch(batch)
            frame = batch.to_pandas(types_mapper=_STABLE_DTYPES.get)
            digest.rows(frame)
            rows += len(frame)
            labels = frame[label].dropna()
            label_sum += float(labels.astype(float).sum())
            for value in labels.unique()[:2]:
                if len(label_values) < 2 and value not in label_values:
                    label_values.append(value.item() if hasattr(value, "item") else value)
    return FrameStats(rows, label_sum, tuple(label_values))


def _publish(staging: Path, directory: Path) -> None:
    """Move the written files into place; the same content written again replaces its files."""
    if directory.exists():
        retired = staging.with_name(staging.name + "-replaced")
        directory.rename(retired)
        staging.rename(directory)
        shutil.rmtree(retired)
    else:
        staging.rename(directory)


def read_training_set(ref: TrainingSetRef, frame: str,
                      columns: list[str] | None = None) -> pd.DataFrame:
    """One frame of ``ref`` ("train" or "holdout"), or only its ``columns``; ValueError if its
    file is not the one written."""
    if ref.file_digests is None:
        raise ValueError(f"training set {ref.directory} was materialized before its files were"
                         " digested: rematerialize ml/training_set")
    return read_verified(Path(ref.directory), ref.file_digests, frame, columns)


def read_verified(directory: Path, file_digests: Mapping[str, str], frame: str,
                  columns: list[str] | None = None) -> pd.DataFrame:
    """One frame of the training set in ``directory``; ValueError unless its file's SHA-256 is
    ``file_digests[frame]``. Checking the file takes a fraction of decoding it (ten years of
    flights, 80 MB: 0.07 s against 1.3 s), so every reader checks, and reads only the columns
    it uses."""
    path = directory / TRAINING_SET_FILES[frame]
    actual = file_sha256(path)
    if actual != file_digests[frame]:
        raise ValueError(
            f"training set file {path} changed since it was materialized "
            f"(SHA-256 {actual[:12]} != {file_digests[frame][:12]}): rematerialize"
            " ml/training_set")
    return pd.read_parquet(path, columns=columns)


def check_trainable(stats: FrameStats, spec, what: str, first: date, last: date) -> None:
    """A window a model of ``spec`` can learn from (or be judged on): labeled rows, and both
    classes for a classifier."""
    window = f"{what} window {first}..{last}"
    if not stats.rows:
        raise TrainingWindowError(f"{window} has no labeled flights")
    if spec.is_classifier and len(stats.label_values) < 2:
        raise TrainingWindowError(
            f"{window} has a single class ({stats.label_values[0]!r} for all {stats.rows}"
            " rows)")
