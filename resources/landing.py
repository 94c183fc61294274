"""The landing zone as a resource: where daily files arrive (core/ingest/contract.py's layout), and
where files that break the contract are moved aside with their reason."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from dagster import ConfigurableResource

from core.ingest.contract import LandingFileError, file_sha256, landing_path


class LandingZone(ConfigurableResource):
    """Where daily files are delivered, ``<path>/<dataset>/<YYYY-MM-DD>.csv``, and where files
    that break the contract are moved aside, ``<quarantine_path>/<dataset>/``."""

    path: str
    quarantine_path: str

    def file_for(self, dataset: str, day: date) -> Path:
        return landing_path(Path(self.path), dataset, day)

    def landed_at(self, day: date, lead_days: int) -> float | None:
        """When what day ``day`` is served from had landed (epoch seconds): its schedule and
        the outcomes of the day before it (lead_days earlier), the last file of them to land.
        None when a file is missing."""
        files = [self.file_for("schedule", day),
                 self.file_for("outcomes", day - timedelta(days=lead_days))]
        if not all(path.exists() for path in files):
            return None
        return max(path.stat().st_mtime for path in files)

    def dataset_dir(self, dataset: str) -> Path:
        return Path(self.path) / dataset

    def quarantine(self, dataset: str, error: LandingFileError, run_id: str) -> Path | None:
        """Move the rejected file out of the landing zone, with a JSON file saying why.

        The landing zone then holds only files that can be ingested; a corrected delivery of
        the same day is a new file for sensors/new_data. Returns where the file went.
        """
        if not error.path.is_file():
            return None  # missing files have nothing to move
        target_dir = Path(self.quarantine_path) / dataset
        target_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = target_dir / f"{error.path.stem}.{stamp}{error.path.suffix}"
        reason = {
            "file": str(error.path), "quarantined_as": str(target), "dataset": dataset,
            "line": error.line, "column": error.column, "rule": error.problem,
            "error": str(error), "sha256": file_sha256(error.path), "run_id": run_id,
            "quarantined_at": stamp,
        }
        target.with_name(target.name + ".reason.json").write_text(json.dumps(reason, indent=2))
        shutil.move(error.path, target)
        return target
