"""features/flight_features against an independent computation, and dbt tests as asset checks.
(What the features may not know is proven in tests/e2e/test_day_ahead.py.)"""

import subprocess
import sys
import zipfile
from datetime import date, timedelta

import pandas as pd
from dagster import AssetCheckKey, AssetKey

from core.ingest.upstream import package_data_dir

TARGET_DAY = date(2013, 2, 10)


def _package_flights() -> pd.DataFrame:
    with zipfile.ZipFile(package_data_dir() / "flights.csv.zip") as archive:
        with archive.open("flights.csv") as handle:
            flights = pd.read_csv(handle, na_values="NA")
    flights["day"] = pd.to_datetime(flights[["year", "month", "day"]]).dt.date
    flights["late"] = (flights["arr_delay"] > 15) | flights["arr_delay"].isna()
    return flights


def test_history_rates_match_an_independent_computation_from_the_package(built_platform):
    flights = _package_flights()
    history = flights[(flights["day"] >= TARGET_DAY - timedelta(days=28))
                      & (flights["day"] <= TARGET_DAY - timedelta(days=1))]
    route = history.groupby(["origin", "dest"])["late"].agg(["size", "mean"]).reset_index()
    yesterday = flights[flights["day"] == TARGET_DAY - timedelta(days=1)]
    origin = yesterday.groupby("origin")["late"].mean().rename("origin_rate").reset_index()

    features = built_platform.query_frame(
        "select origin, dest, route_flights_28d, route_late_rate_28d, origin_late_rate_1d"
        " from features.flight_features where flight_date = ?", [TARGET_DAY])
    scheduled = flights[flights["day"] == TARGET_DAY]
    assert len(features) == len(scheduled) > 500  # every scheduled flight, cancelled ones too
    joined = features.merge(route, on=["origin", "dest"], how="left").merge(origin, on="origin")
    assert (joined["route_flights_28d"] == joined["size"].fillna(0)).all()
    with_history = joined["size"].notna()
    assert with_history.mean() > 0.9
    assert (joined.loc[with_history, "route_late_rate_28d"]
            - joined.loc[with_history, "mean"]).abs().max() < 1e-12
    assert joined.loc[~with_history, "route_late_rate_28d"].isna().all()
    assert (joined["origin_late_rate_1d"] - joined["origin_rate"]).abs().max() < 1e-12


def test_a_failing_dbt_test_is_a_failed_asset_check(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path)
    day = date(2013, 1, 21)
    landing_file = platform.settings.landing_dir / "schedule" / f"{day}.csv"
    lines = landing_file.read_text().splitlines()
    fields = lines[1].split(",")
    fields[3] = "ZZ"  # a carrier that raw.airlines does not know
    landing_file.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")

    repo = platform.defs.get_repository_def()
    keys = [AssetKey(["raw", "schedule"]), AssetKey(["staging", "stg_schedule"])]
    result = repo.get_implicit_job_def_for_assets(keys).execute_in_process(
        instance=platform.instance, partition_key=day.isoformat(), asset_selection=keys,
        raise_on_error=False,
    )
    evaluations = {
        evaluation.asset_check_key: evaluation for evaluation in result.get_asset_check_evaluations()
    }
    check = AssetCheckKey(
        AssetKey(["staging", "stg_schedule"]),
        "relationships_stg_schedule_carrier__carrier__source_raw_airlines_",
    )
    assert check in evaluations
    assert evaluations[check].passed is False
    assert evaluations[check].metadata["dagster_dbt/failed_row_count"].value == 1
    unique = AssetCheckKey(AssetKey(["staging", "stg_schedule"]), "unique_stg_schedule_flight_id")
    assert evaluations[unique].passed is True
    # A failing data test fails the same way every time: the step is not retried.
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_column_descriptions_are_persisted_as_warehouse_comments(built_platform):
    """dbt's persist_docs: the YAML's descriptions are table and column comments in DuckDB."""
    import yaml

    from resources.settings import REPO_ROOT

    documented = yaml.safe_load((REPO_ROOT / "dbt_project" / "models" / "features"
                                 / "flight_features.yml").read_text())["models"][0]
    stored = dict(built_platform.query(
        "select column_name, comment from duckdb_columns()"
        " where schema_name = 'features' and table_name = 'flight_features'"))
    for column in documented["columns"]:
        assert stored[column["name"]] == column["description"].strip(), column["name"]
    table_comment = built_platform.query(
        "select comment from duckdb_tables()"
        " where schema_name = 'features' and table_name = 'flight_features'")[0][0]
    assert table_comment.startswith("The model inputs of every scheduled flight")


def test_windows_built_one_after_another_in_one_process_are_each_right_and_free_the_file(
        built_platform, tmp_path):
    """dbt runs in the run's process with one parsed project for every window
    (internals/dbt_in_process.py): each build must still compile its own window, and let go of
    the warehouse file when it ends, or no other process (run, analyst) could open it."""
    platform = built_platform.clone(tmp_path)
    days = [date(2013, 1, 14), date(2013, 2, 3)]
    with platform.warehouse.connect() as con:
        con.execute("delete from features.flight_features where flight_date in (?, ?)", days)
    key = AssetKey(["features", "flight_features"])
    job = platform.defs.get_repository_def().get_implicit_job_def_for_assets([key])
    for day in days:
        result = job.execute_in_process(instance=platform.instance, partition_key=day.isoformat(),
                                        asset_selection=[key])
        assert result.success
        opened_elsewhere = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
             str(platform.settings.warehouse_path)], capture_output=True, text=True)
        assert opened_elsewhere.returncode == 0, opened_elsewhere.stderr
    built = dict(platform.query("select flight_date, count(*) from features.flight_features"
                                " where flight_date in (?, ?) group by 1", days))
    scheduled = dict(platform.query("select partition_date, count(*) from raw.schedule"
                                    " where partition_date in (?, ?) group by 1", days))
    assert built == scheduled and len(built) == 2
