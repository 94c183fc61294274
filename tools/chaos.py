"""make chaos: the heavier fault scenarios of the test suite, run at once, with figures.

  bad input    every kind of bad delivery (tools/faults.py) against a warehouse holding the
               day: how many were rejected, and how many stored rows were lost (must be 0)
  concurrency  N daily_data runs queued together and run by the real daemon: lock failures
               (must be 0)
  crashes      K runs killed with SIGKILL inside their write: partitions unchanged, and the
               seconds until the rerun had the day back

Everything runs in a temp folder; nothing of the repo's data/ or .dagster_home/ is touched.
    python -m tools.chaos [--runs 4] [--kills 3]
"""

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import definitions
import runner
from assets.ingest.raw import ingest_days
from core.ingest.contract import SCHEDULE, LandingFileError
from core.ingest.upstream import land_days
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse
from tools import faults
from tools.sandbox import Platform

DAY = date(2013, 3, 1)


bad_landing_files, is_lock_error = faults.bad_landing_files, faults.is_lock_error
kill_mid_write_and_rerun = faults.kill_mid_write_and_rerun
run_days_through_queue = faults.run_days_through_queue


def bad_input(root: Path) -> dict:
    landing = LandingZone(path=str(root / "landing"), quarantine_path=str(root / "quarantine"))
    warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
    land_days(root / "landing", DAY, DAY, datasets=("schedule",))
    path = landing.file_for("schedule", DAY)
    good = path.read_bytes()
    ingest_days(warehouse, landing, SCHEDULE, [DAY])

    def stored():
        with warehouse.connect(read_only=True) as con:
            return con.execute("select * from raw.schedule order by all").fetchall()

    before, rejected, lost, accepted = stored(), 0, 0, []
    for kind, (content, *_) in bad_landing_files(good).items():
        path.write_bytes(content)
        try:
            ingest_days(warehouse, landing, SCHEDULE, [DAY])
            accepted.append(kind)
        except LandingFileError:
            rejected += 1
        after = stored()
        lost += len(set(before) - set(after))
    path.write_bytes(good)
    return {"kinds tried": len(bad_landing_files(good)), "rejected": rejected,
            "accepted (should be none)": accepted or "none", "rows lost": lost}


def concurrency(root: Path, runs: int) -> dict:
    days = [f"2013-03-{day:02d}" for day in range(1, runs + 1)]
    outcome = run_days_through_queue(root, days)
    records = outcome["records"]
    return {
        "runs queued together": len(records),
        "succeeded": sum(r.dagster_run.status.value == "SUCCESS" for r in records),
        "lock failures": sum(is_lock_error(m) for m in outcome["messages"]),
        "all in flight at once": max(r.start_time for r in records)
        < min(r.end_time for r in records),
        "wall seconds": round(outcome["seconds"], 1),
    }


def crashes(root: Path, kills: int) -> dict:
    platform = Platform(root, definitions, runner)
    platform.land(date(2013, 1, 1), date(2013, 1, kills))
    platform.materialize(date(2013, 1, 1), date(2013, 1, kills), groups=("raw",))
    survived, recover = 0, []
    for day in range(1, kills + 1):
        outcome = kill_mid_write_and_rerun(platform, f"2013-01-{day:02d}")
        intact = outcome["reached_write"] and outcome["after_kill"] == outcome["before"]
        restored = outcome["rerun_success"] and outcome["after_rerun"] == outcome["before"]
        survived += intact and restored
        recover.append(outcome["recover_seconds"])
    return {"kills": kills, "survived (partition intact, rerun exact)": survived,
            "seconds to recover (max)": round(max(recover), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        sections = {
            "bad input": bad_input(Path(tmp) / "bad_input"),
            "crashes": crashes(Path(tmp) / "crashes", args.kills),
            "concurrency": concurrency(Path(tmp) / "concurrency", args.runs),
        }
    print(f"\n{'scenario':<14}{'figure':<44}value")
    for section, figures in sections.items():
        for name, value in figures.items():
            print(f"{section:<14}{name:<44}{value}")
    print(f"\nchaos done in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
