"""features/flight_features: the point-in-time route rate, and dbt tests as asset checks."""

from datetime import date, timedelta

import pandas as pd
from dagster import AssetCheckKey, AssetKey

TARGET_DAY = date(2013, 2, 10)


def _features_on(platform, day: date) -> pd.DataFrame:
    with platform.warehouse.connect(read_only=True) as con:
        return con.execute(
            "select flight_id, origin, dest, route_flights_28d, route_delay_rate_28d, is_delayed"
            " from features.flight_features where flight_date = ? order by flight_id",
            [day],
        ).df()


def test_route_rate_matches_an_independent_computation_from_raw(built_platform):
    # Recompute from raw.flights with pandas: completed flights of the 28 days before the day.
    with built_platform.warehouse.connect(read_only=True) as con:
        raw = con.execute(
            "select origin, dest, partition_date, arr_delay from raw.flights"
            " where partition_date between ? and ? and arr_delay is not null",
            [TARGET_DAY - timedelta(days=28), TARGET_DAY - timedelta(days=1)],
        ).df()
    raw["late"] = raw["arr_delay"] > 15
    expected = raw.groupby(["origin", "dest"])["late"].agg(["size", "mean"]).reset_index()

    features = _features_on(built_platform, TARGET_DAY).merge(
        expected, on=["origin", "dest"], how="left"
    )
    assert len(features) > 500
    assert (features["route_flights_28d"] == features["size"].fillna(0)).all()
    with_history = features["size"].notna()
    assert with_history.sum() > 0.9 * len(features)
    assert (
        (features.loc[with_history, "route_delay_rate_28d"] - features.loc[with_history, "mean"])
        .abs()
        .max()
        < 1e-12
    )
    assert features.loc[~with_history, "route_delay_rate_28d"].isna().all()


def test_a_flights_features_never_see_its_own_day_or_later(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path)
    before = _features_on(platform, TARGET_DAY)

    # Rewrite history from TARGET_DAY on: every flight that day and later is now very late.
    with platform.warehouse.transaction() as con:
        con.execute(
            "update raw.flights set arr_delay = 999"
            " where partition_date >= ? and arr_delay is not null",
            [TARGET_DAY],
        )
    rebuilt = platform.materialize(TARGET_DAY, TARGET_DAY + timedelta(days=1), ("staging", "features"))
    assert rebuilt and all(rebuilt.values())

    after = _features_on(platform, TARGET_DAY)
    # The label sees the change, the route history does not.
    assert after["is_delayed"].all() and not before["is_delayed"].all()
    pd.testing.assert_series_equal(after["route_delay_rate_28d"], before["route_delay_rate_28d"])
    pd.testing.assert_series_equal(after["route_flights_28d"], before["route_flights_28d"])
    # ...while the next day does see it (the test could fail: the rate is not frozen).
    next_day = _features_on(platform, TARGET_DAY + timedelta(days=1))
    next_day_before = _features_on(built_platform, TARGET_DAY + timedelta(days=1))
    assert (next_day["route_delay_rate_28d"].fillna(0) > next_day_before["route_delay_rate_28d"].fillna(0)).any()


def test_a_failing_dbt_test_is_a_failed_asset_check(built_platform, tmp_path):
    platform = built_platform.clone(tmp_path)
    day = date(2013, 1, 21)
    landing_file = platform.settings.landing_dir / "flights" / f"{day}.csv"
    lines = landing_file.read_text().splitlines()
    fields = lines[1].split(",")
    fields[9] = "ZZ"  # a carrier that raw.airlines does not know
    landing_file.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")

    repo = platform.defs.get_repository_def()
    keys = [AssetKey(["raw", "flights"]), AssetKey(["staging", "stg_flights"])]
    result = repo.get_implicit_job_def_for_assets(keys).execute_in_process(
        instance=platform.instance, partition_key=day.isoformat(), asset_selection=keys,
        raise_on_error=False,
    )
    evaluations = {
        evaluation.asset_check_key: evaluation for evaluation in result.get_asset_check_evaluations()
    }
    check = AssetCheckKey(
        AssetKey(["staging", "stg_flights"]),
        "relationships_stg_flights_carrier__carrier__source_raw_airlines_",
    )
    assert check in evaluations
    assert evaluations[check].passed is False
    assert evaluations[check].metadata["dagster_dbt/failed_row_count"].value == 1
    unique = AssetCheckKey(AssetKey(["staging", "stg_flights"]), "unique_stg_flights_flight_id")
    assert evaluations[unique].passed is True
    # A failing data test fails the same way every time: the step is not retried.
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
