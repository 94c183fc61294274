"""Crashes and transient failures: a killed write changes nothing, a locked file is retried.

The crash is real: a Dagster run in a subprocess is stopped with SIGKILL while its partition
write is inside the transaction (tools/faults.py), and the warehouse is opened again after.
"""

import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date

from dagster import AssetKey, DagsterEventType

from core.ingest.contract import landing_path
from tools import faults

DAY = "2013-01-20"
SCHEDULE = [AssetKey(["raw", "schedule"])]


def test_sigkill_mid_write_leaves_the_partition_as_it_was(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path)
    outcome = faults.kill_mid_write_and_rerun(platform, DAY)

    assert outcome["reached_write"] and outcome["returncode"] == -signal.SIGKILL
    assert outcome["before"]
    assert outcome["after_kill"] == outcome["before"]  # the uncommitted write is gone
    # The rerun found the crashed run dead, failed it and freed its pool slot, then wrote the day.
    assert outcome["rerun_success"]
    runs_of_the_day = [r for r in platform.instance.get_runs()
                       if r.tags.get("dagster/partition") == DAY]
    crashed = [r for r in runs_of_the_day if r.run_id != outcome["rerun_run_id"]]
    assert [r.status.value for r in crashed] == ["FAILURE"]
    delivered = landing_path(platform.settings.landing_dir, "schedule", date(2013, 1, 20))
    assert len(outcome["after_rerun"]) == len(delivered.read_text().splitlines()) - 1
    assert outcome["after_rerun"] == outcome["before"]


def test_a_warehouse_held_elsewhere_is_retried_with_backoff(
    built_platform, tmp_path, definitions_module
):
    """Another process keeps the file past the wait limit: the step fails with WarehouseBusy,
    is retried by the RetryPolicy, and succeeds once the file is free. The holder lets go only
    once the instance has recorded the first retry, whatever the machine's speed."""
    platform = built_platform.clone(tmp_path)
    # Each attempt waits at most 1 s, so the first gives up while the file is still held.
    impatient = replace(platform.settings, warehouse_lock_wait_seconds=1.0)
    defs = definitions_module.build_definitions(impatient)
    lock_file = str(platform.settings.warehouse_path.resolve()) + ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX);"
         " print('held', flush=True); sys.stdin.readline()", lock_file],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"

    earlier = {run.run_id for run in platform.instance.get_runs()}
    outcome = {}
    run = threading.Thread(target=lambda: outcome.update(result=platform.runner.execute(
        defs, platform.instance, SCHEDULE, partition_key=DAY, log=lambda _: None)))
    run.start()
    deadline = time.monotonic() + 120
    while not _retried(platform.instance, earlier) and run.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    holder.communicate("release\n", timeout=30)  # the file is free from here on
    run.join(timeout=120)

    result = outcome["result"]
    assert result.success
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert retries
    assert "WarehouseBusy" in str(retries[0].event_specific_data.error)


def _retried(instance, earlier: set[str]) -> bool:
    """Whether a run not in ``earlier`` has had a step up for retry."""
    return any(
        event.dagster_event and event.dagster_event.event_type == DagsterEventType.STEP_UP_FOR_RETRY
        for run in instance.get_runs() if run.run_id not in earlier
        for event in instance.all_logs(run.run_id))
