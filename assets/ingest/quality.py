"""Data-quality checks on raw/*, run in the ingest step itself (no extra step, same transaction).

- ``row_count_in_band`` (WARN): each ingested day has a row count within the dataset's band of
  the trailing 28 stored days' average; a half-empty export or a doubled one stands out.
- ``null_rates_in_band`` (WARN): the share of nulls in each key column stays under the
  dataset's limit (cancellations null the times: the 2013-02-08 blizzard comes close).
- ``key_unique`` (ERROR, blocking): no two stored rows of a day share the dataset's key, so
  nothing downstream runs on doubled data.
- ``covers_schedule`` (WARN, outcomes only): every scheduled flight of the day has an outcome; a
  flight without one has no label (it is left out of training and of realized performance).
"""

from datetime import date

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from core.ingest.contract import FLIGHT_KEY, LandingDataset

TRAILING_DAYS = 28


def quality_check_specs(dataset: LandingDataset) -> list[AssetCheckSpec]:
    asset = AssetKey(["raw", dataset.name])
    low, high = dataset.row_count_band
    return [
        AssetCheckSpec("row_count_in_band", asset=asset, description=(
            f"Each day's rows are {low:g}x..{high:g}x the trailing {TRAILING_DAYS}-day average.")),
        AssetCheckSpec("null_rates_in_band", asset=asset, description=(
            f"At most {dataset.max_null_rate:.0%} nulls per key column on any day.")),
        AssetCheckSpec("key_unique", asset=asset, blocking=True, description=(
            f"One row per ({', '.join(dataset.unique_key)}) and day.")),
        *([AssetCheckSpec("covers_schedule", asset=asset, description=(
            "Every scheduled flight of the day has an outcome (else it has no label)."))]
          if dataset.name == "outcomes" else []),
    ]


def quality_check_results(
    con: duckdb.DuckDBPyConnection, dataset: LandingDataset, first: date, last: date
) -> list[AssetCheckResult]:
    """Evaluate the checks on the stored days first..last (inside the writing transaction)."""
    checks = [
        _row_count_in_band(con, dataset, first, last),
        _null_rates_in_band(con, dataset, first, last),
        _key_unique(con, dataset, first, last),
    ]
    if dataset.name == "outcomes":
        checks.append(_covers_schedule(con, first, last))
    return checks


def _row_count_in_band(con, dataset, first, last) -> AssetCheckResult:
    low, high = dataset.row_count_band
    rows = con.execute(
        f"""
        with calendar as (
            select unnest(range(?::date - interval {TRAILING_DAYS} day, ?::date + interval 1 day,
                                interval 1 day))::date as calendar_day
        ),
        counts as (
            select calendar_day, count(r.partition_date) as n
            from calendar left join raw.{dataset.name} r on r.partition_date = calendar_day
            -- days before the first stored day are not history, just not delivered yet
            where calendar_day >= (select min(partition_date) from raw.{dataset.name})
            group by calendar_day
        ),
        with_trailing as (
            select calendar_day, n,
                   avg(n) over (order by calendar_day
                                rows between {TRAILING_DAYS} preceding and 1 preceding) as average
            from counts
        )
        select calendar_day, n, average from with_trailing
        where calendar_day between ? and ? and average > 0
          and (n < ? * average or n > ? * average)
        order by calendar_day
        """,
        [first, last, first, last, low, high],
    ).fetchall()
    outside = {str(day): {"rows": n, "trailing_average": round(avg, 1)} for day, n, avg in rows}
    return AssetCheckResult(
        asset_key=AssetKey(["raw", dataset.name]),
        check_name="row_count_in_band",
        passed=not outside,
        severity=AssetCheckSeverity.WARN,
        metadata={"days_checked": (last - first).days + 1, "days_outside_band": len(outside),
                  "outside": MetadataValue.json(dict(list(outside.items())[:20]))},
    )


def _null_rates_in_band(con, dataset, first, last) -> AssetCheckResult:
    rates = ", ".join(
        f"max(nulls_{c}) as {c}" for c in dataset.key_columns
    )
    per_day = ", ".join(f"avg(({c} is null)::int) as nulls_{c}" for c in dataset.key_columns)
    worst = con.execute(
        f"select {rates} from (select partition_date, {per_day} from raw.{dataset.name}"
        " where partition_date between ? and ? group by 1)",
        [first, last],
    ).fetchone()
    worst_by_column = {c: round(rate or 0.0, 4) for c, rate in zip(dataset.key_columns, worst, strict=True)}
    too_high = {c: r for c, r in worst_by_column.items() if r > dataset.max_null_rate}
    return AssetCheckResult(
        asset_key=AssetKey(["raw", dataset.name]),
        check_name="null_rates_in_band",
        passed=not too_high,
        severity=AssetCheckSeverity.WARN,
        metadata={"worst_day_null_rate": MetadataValue.json(worst_by_column),
                  "above_limit": MetadataValue.json(too_high),
                  "limit": dataset.max_null_rate},
    )


def _key_unique(con, dataset, first, last) -> AssetCheckResult:
    key = ", ".join(dataset.unique_key)
    duplicated = con.execute(
        f"select count(*) from (select partition_date, {key} from raw.{dataset.name}"
        f" where partition_date between ? and ? group by all having count(*) > 1)",
        [first, last],
    ).fetchone()[0]
    return AssetCheckResult(
        asset_key=AssetKey(["raw", dataset.name]),
        check_name="key_unique",
        passed=duplicated == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"duplicated_keys": duplicated, "key": key},
    )


def _covers_schedule(con, first, last) -> AssetCheckResult:
    key = ", ".join(FLIGHT_KEY)
    missing, scheduled = con.execute(
        f"select count(*) filter (where o.flight is null), count(*) from raw.schedule s"
        f" left join raw.outcomes o using (partition_date, {key})"
        " where s.partition_date between ? and ?", [first, last]).fetchone()
    return AssetCheckResult(
        asset_key=AssetKey(["raw", "outcomes"]),
        check_name="covers_schedule",
        passed=missing == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"scheduled_flights": scheduled, "without_outcome": missing},
    )
