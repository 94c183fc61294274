"""An analyst's edit of a dbt model: the model turns stale by its code version, and rebuilding it
flows downstream through the automation conditions."""

import json
from pathlib import Path

import onnx
from dagster import AssetKey, evaluate_automation_conditions
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from assets.keys import ModelKeys
from core.gate import registry
from tests.conftest import CLASSIFIER
from tests.dbt_edits import add_input, project_copy
from tools.sandbox import SMALL_WINDOW, Platform

FEATURES = AssetKey(["features", "flight_features"])
STAGING = [AssetKey(["staging", "stg_schedule"]), AssetKey(["staging", "stg_weather"])]
MODEL = ModelKeys(CLASSIFIER)
PREDICTIONS = MODEL.predictions
DAY = "2013-02-05"


# An analyst's new input: a column in the SQL, its one line of YAML (the contract requires
# both) and its value in the point-in-time unit test (no distance in its fixtures: null).
ADD_A_FEATURE = add_input("distance_kkm", "scheduled.distance / 1000.0", {})


def test_editing_a_dbt_model_makes_it_stale_and_its_rebuild_flows_downstream(
    built_platform, tmp_path, definitions_module, runner
):
    # The deployment as built, on the repo's project: its features are fresh. The analyst edits a
    # copy (dagster-dbt caches a manifest by its path within a process; `dagster dev` reloads
    # in a new process).
    platform = built_platform.clone(tmp_path / "deployment", SMALL_WINDOW)
    assert platform.train("2013-02-03", models=[MODEL]).success
    assert platform.promote([MODEL]).success
    assert platform.execute([PREDICTIONS], partition_key=DAY).success

    def status(defs, key):
        resolver = CachingStaleStatusResolver(platform.instance, defs.resolve_asset_graph(),
                                              LoadingContextForTest(platform.instance))
        return resolver.get_status(key, DAY), resolver.get_stale_root_causes(key, DAY)

    assert status(platform.defs, FEATURES)[0] == StaleStatus.FRESH
    assert status(platform.defs, PREDICTIONS)[0] == StaleStatus.FRESH

    edited_project = project_copy(tmp_path / "dbt_edited", platform.settings.dbt_executable,
                                  ADD_A_FEATURE)
    edited = Platform(platform.root, definitions_module, runner, SMALL_WINDOW,
                      dbt_project_dir=edited_project)
    features_status, features_causes = status(edited.defs, FEATURES)
    assert features_status == StaleStatus.STALE
    assert [cause.category.name for cause in features_causes] == ["CODE"]
    # The SQL of staging did not change: it stays fresh.
    assert status(edited.defs, STAGING[0])[0] == StaleStatus.FRESH

    # Rebuilding the stale day with the new SQL; the automation takes it from there.
    cursor = evaluate_automation_conditions(edited.defs, edited.instance).cursor
    assert edited.execute([FEATURES, *STAGING], partition_key=DAY).success
    assert status(edited.defs, FEATURES)[0] == StaleStatus.FRESH
    assert "distance_kkm" in [c for (c,) in edited.query(
        "select column_name from information_schema.columns where table_name = 'flight_features'")]
    after = evaluate_automation_conditions(edited.defs, edited.instance, cursor=cursor)
    # The rebuilt day is scored again, and so are the later days whose features read it (their
    # history) and are rebuilt in turn: predictions follow their features, and only them.
    rebuilt_next = after.get_requested_partitions(FEATURES)
    assert "2013-02-06" in rebuilt_next and DAY not in rebuilt_next
    assert after.get_requested_partitions(PREDICTIONS) == {DAY} | rebuilt_next

    # The analyst's one line of YAML made it a model input: the next model trains on it and
    # takes it in its ONNX signature (no Python changed), once every day is rebuilt (as the
    # automation does after an edit).
    assert edited.execute([FEATURES], partition_range=("2013-01-01", "2013-02-12")).success
    assert edited.train("2013-02-10", models=[MODEL]).success
    with edited.warehouse.connect(read_only=True) as con:
        newest = registry.newest_model(con, CLASSIFIER)
    onnx_inputs = [i.name for i in onnx.load(Path(newest.artifact_dir) / "model.onnx").graph.input]
    assert "distance_kkm" in onnx_inputs
    assert "distance_kkm" not in [i.name for i in onnx.load(
        Path(registry_first(platform).artifact_dir) / "model.onnx").graph.input]
    # It passed the point-in-time audit of the edited project, and the card says so with the
    # audit's evidence (the repo's project had its own audit: another key).
    audit = json.loads((Path(newest.artifact_dir) / "metadata.json").read_text()
                       )["point_in_time_audit"]
    assert audit["passed"] and audit["days"] and audit["rows"] > 1000
    assert audit["audit_key"] != json.loads((Path(registry_first(platform).artifact_dir)
                                             / "metadata.json").read_text()
                                            )["point_in_time_audit"]["audit_key"]
    card = (Path(edited.settings.model_store_dir) / "evaluations" / CLASSIFIER / newest.version
            / "model_card.md").read_text()
    assert "Every input is known by then, as audited:" in card
    assert f"{audit['rows']:,} rows x {audit['columns']} columns" in card


def registry_first(platform):
    with platform.warehouse.connect(read_only=True) as con:
        return registry.models_in_creation_order(con, CLASSIFIER)[0]
