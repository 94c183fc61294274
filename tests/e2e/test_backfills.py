"""An operator's backfills through the real webserver and daemon, by the UI's own API (GraphQL):
a month of raw + features is one run, whether launched from the `daily_data` job or as an
asset backfill of the same assets; each builds what was selected, features included.

The sensors are turned off first, as an operator would in the UI, so that only the backfills
run (the automation would otherwise follow them with its own runs).
"""

import json
import os
import subprocess
import time
import urllib.request

import pytest
from dagster import AssetKey, AssetRecordsFilter, RunsFilter

from resources.settings import REPO_ROOT
from tools import daemon_loop

REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": "definitions.py"}
DAYS = [f"2013-02-{day:02d}" for day in range(1, 8)]
FEATURES = AssetKey(["features", "flight_features"])


class Operator:
    """The UI's GraphQL API on a running webserver."""

    def __init__(self, url: str):
        self.url = url

    def query(self, text: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql", json.dumps({"query": text, "variables": variables or {}}).encode(),
            {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer
        return answer["data"]

    def stop_every_sensor(self) -> list[str]:
        sensors = self.query("""query($r: RepositorySelector!) { sensorsOrError(repositorySelector: $r)
            { ... on Sensors { results { name jobOriginId sensorState { selectorId } } } } }""",
                             {"r": REPOSITORY})["sensorsOrError"]["results"]
        for sensor in sensors:
            self.query("""mutation($o: String, $s: String) { stopSensor(jobOriginId: $o,
                jobSelectorId: $s) { __typename } }""",
                       {"o": sensor["jobOriginId"], "s": sensor["sensorState"]["selectorId"]})
        return [sensor["name"] for sensor in sensors]

    def launch_backfill(self, params: dict) -> str:
        result = self.query("""mutation($p: LaunchBackfillParams!) {
            launchPartitionBackfill(backfillParams: $p) { __typename
              ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                            {"p": {"partitionNames": DAYS, "fromFailure": False, **params}})
        launched = result["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]


@pytest.fixture(scope="module")
def operator(built_platform, tmp_path_factory):
    """A deployment with Jan 1 .. Feb 12 built, under the real webserver, then the daemon."""
    platform = built_platform.clone(tmp_path_factory.mktemp("backfills"))
    env = platform.environment(os.environ)
    webserver, url = daemon_loop.start_webserver(env, timeout=180)
    daemon = None
    try:
        api = Operator(url)
        assert "automation" in api.stop_every_sensor()
        daemon = daemon_loop.start_session(
            [str(REPO_ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield api, platform
    finally:
        for process in (daemon, webserver):
            if process is not None:
                daemon_loop.stop_session(process)


def _finish(instance, backfill_id: str, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backfill = instance.get_backfill(backfill_id)
        if backfill.status.value not in ("REQUESTED", "CANCELING"):
            runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
            if all(run.is_finished for run in runs):
                return backfill, runs
        time.sleep(2)
    raise TimeoutError(f"backfill {backfill_id} still going after {timeout:.0f}s")


def _built_by(instance, key: AssetKey, run_ids: set[str]) -> set[str]:
    """The days of ``key`` whose latest materialization came from one of ``run_ids``."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=DAYS), limit=1000).records
    latest = {}
    for record in records:  # newest first
        latest.setdefault(record.partition_key, record.run_id)
    return {day for day, run_id in latest.items() if run_id in run_ids}


def test_a_job_backfill_of_a_week_is_one_run_that_builds_raw_and_features(operator):
    api, platform = operator
    backfill_id = api.launch_backfill({"selector": {"partitionSetName": "daily_data_partition_set",
                                                    "repositorySelector": REPOSITORY}})
    backfill, runs = _finish(platform.instance, backfill_id)
    assert backfill.status.value == "COMPLETED_SUCCESS"
    (run,) = runs  # the single-run backfill policies: the whole week in one run
    assert (run.tags["dagster/asset_partition_range_start"],
            run.tags["dagster/asset_partition_range_end"]) == (DAYS[0], DAYS[-1])
    for key in (AssetKey(["raw", "schedule"]), AssetKey(["labels", "flight_labels"]), FEATURES):
        assert _built_by(platform.instance, key, {run.run_id}) == set(DAYS), key


def test_an_asset_backfill_of_the_daily_data_builds_what_was_selected(operator):
    api, platform = operator
    selection = platform.defs.resolve_job_def("daily_data").asset_layer.selected_asset_keys
    backfill_id = api.launch_backfill(
        {"assetSelection": [{"path": key.path} for key in sorted(selection)]})
    backfill, runs = _finish(platform.instance, backfill_id)
    assert backfill.status.value == "COMPLETED_SUCCESS"
    # raw/* in one run over the week, then the dbt models in one more: the asset backfill
    # runs a multi-asset's parents before it.
    assert len(runs) == 2
    run_ids = {run.run_id for run in runs}
    assert _built_by(platform.instance, FEATURES, run_ids) == set(DAYS)
    assert _built_by(platform.instance, AssetKey(["raw", "outcomes"]), run_ids) == set(DAYS)
