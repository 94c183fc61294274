"""Training sets: which days a model may learn from and be judged on, and the frames themselves.

A model with cutoff C serves the days from C on. Day C is scored at the end of day
C - lead (the prediction time), when the labels up to C - lead are known: that is where
training ends. The holdout is the labeled days from C on, which the model never saw.
Frames are written as Parquet in a folder named by their content hash, and refused on read
if they changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

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
class TrainingSetRef:
    """What ml/training_set hands downstream: where its Parquet files are and what they hold."""

    cutoff: date
    directory: str
    windows: Windows
    train_rows: int
    holdout_rows: int
    content_hash: str
    lineage: dict  # the prediction time, the label's definition: what the rows mean


TRAINING_SET_FILES = ("train.parquet", "holdout.parquet")


def frame_hash(frames: dict[str, pd.DataFrame]) -> str:
    """A content hash of data frames (values, columns, order), independent of file bytes."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        digest.update(name.encode())
        digest.update(json.dumps(list(frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def write_training_set(directory: Path, train: pd.DataFrame, holdout: pd.DataFrame) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for frame, name in zip((train, holdout), TRAINING_SET_FILES, strict=True):
        frame.to_parquet(directory / name, index=False)


def read_training_set(ref: TrainingSetRef) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the Parquet files of ``ref``, refusing them if they are not what was written."""
    return read_verified(Path(ref.directory), ref.content_hash)


def read_verified(directory: Path, content_hash: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train and holdout frames in ``directory``; ValueError unless their content hash is
    ``content_hash``.

    A training run reads each set four times (the model, its two checks, its evaluation), and
    a year's set takes ~0.5 s to decode and hash: a process verifies a set once and hands out
    copies while its files hold the same bytes (their digest, ~10 ms for a year's 8 MB, is the
    cache's key; a size and mtime can survive a rewrite within the clock's tick).
    """
    digests = tuple(file_sha256(directory / name) for name in TRAINING_SET_FILES)
    train, holdout = _verified_frames(str(directory), content_hash, digests)
    # Shallow copies: pandas' copy-on-write keeps a caller's changes out of the cached frames.
    return train.copy(deep=False), holdout.copy(deep=False)


@functools.lru_cache(maxsize=2)  # a training run's two models
def _verified_frames(directory: str, content_hash: str,
                     file_digests: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, holdout = (pd.read_parquet(Path(directory) / name) for name in TRAINING_SET_FILES)
    actual = frame_hash({"train": train, "holdout": holdout})
    if actual != content_hash:
        raise ValueError(
            f"training set {directory} changed since it was materialized "
            f"(hash {actual[:12]} != {content_hash[:12]}): rematerialize ml/training_set"
        )
    return train, holdout


def check_trainable(frame: pd.DataFrame, spec, what: str, first: date, last: date) -> None:
    """A window a model of ``spec`` can learn from (or be judged on): labeled rows, and both
    classes for a classifier."""
    window = f"{what} window {first}..{last}"
    if frame.empty:
        raise TrainingWindowError(f"{window} has no labeled flights")
    if spec.is_classifier and frame[spec.label].nunique() < 2:
        raise TrainingWindowError(
            f"{window} has a single class ({frame[spec.label].iloc[0]!r} for all {len(frame)}"
            " rows)")
