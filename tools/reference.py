"""The plain scripts `make bench` measures the platform against, as a team would write them
without a platform: one file, one process, no contract, no checks, no lineage.

  python -m tools.reference load  SPEC   load the landed files into a fresh DuckDB file and
                                            run dbt's compiled SQL for every model: the work
                                            of a full-year raw + features backfill
  python -m tools.reference model SPEC   the issue's day-ahead reference model: train on Jan
                                            1-Sep 30, test on Oct 1-Dec 31, HistGradientBoosting
                                            on the schedule, the aircraft, the planned congestion
                                            and the outcome history up to D-1 (its own SQL, not
                                            the platform's): AUC on the test days

SPEC is JSON: {"database", "files": {dataset: [csv, ...]}, "columns": {dataset: read_csv
columns}, "planes": csv, "sql": [[relation, kind, compiled sql], ...]}. Each prints one JSON
line. Only duckdb, numpy and scikit-learn are imported: the figures are the work, not imports.
"""

import json
import sys

import duckdb


def load(spec: dict) -> dict:
    con = duckdb.connect(spec["database"])
    for schema in ("raw", "staging", "labels", "features"):
        con.execute(f"create schema {schema}")
    for name, files in spec["files"].items():
        con.execute(
            f"create table raw.{name} as select *, make_date(year, month, day) as partition_date,"
            " filename as source_file, 0 as source_line from read_csv(?, header = true,"
            f" auto_detect = false, nullstr = 'NA', filename = true,"
            f" columns = {spec['columns'][name]})", [files])
    con.execute("create table raw.planes as select * from read_csv(?, nullstr = 'NA')",
                [spec["planes"]])
    for relation, kind, sql in spec["sql"]:
        con.execute(f"create {kind} {relation} as {sql}")
    return {"feature_rows": con.execute("select count(*) from features.flight_features")
            .fetchone()[0]}


# Outcome history of day D: the share of late flights over the days D-days..D-1 by ``keys``,
# a window over daily counts (the row of day D exists: D's own flights are in it).
def _history(name: str, keys: list[str], days: int) -> str:
    k = ", ".join(keys)
    return f"""{name} as (
    select {k}, dn, sum(l) over w / nullif(sum(n) over w, 0) as {name}_rate,
        sum(n) over w as {name}_flights
    from (select {k}, dn, count(*) as n, sum(late::int) as l from flights group by all)
    window w as (partition by {k} order by dn range between {days} preceding and 1 preceding)
)"""


HISTORIES = {"route_28d": (["origin", "dest"], 28), "carrier_28d": (["carrier"], 28),
             "origin_hour_28d": (["origin", "hour"], 28), "origin_1d": (["origin"], 1),
             "carrier_1d": (["carrier"], 1)}

# Features for day D from the schedule of D, the planes table and the outcomes up to D-1.
REFERENCE_FEATURES = "with flights as (\n" + """
    select s.*, make_date(s.year, s.month, s.day) as d,
        date_diff('day', date '2013-01-01', make_date(s.year, s.month, s.day)) as dn,
        o.arr_delay is null or o.arr_delay > 15 as late
    from raw.schedule s
    join raw.outcomes o using (year, month, day, carrier, flight, origin)
),
""" + ",\n".join(_history(name, keys, days) for name, (keys, days) in HISTORIES.items()) + """
select f.d, f.late, f.hour, dayofweek(f.d) as day_of_week, f.distance,
    f.carrier, f.origin, f.dest, 2013 - p.year as plane_age, p.seats,
    count(*) over (partition by f.origin, f.d, f.hour) as origin_hour_departures,
    count(*) over (partition by f.origin, f.d) as origin_day_departures,
    route_28d_rate, route_28d_flights, carrier_28d_rate, origin_hour_28d_rate,
    origin_1d_rate, carrier_1d_rate
from flights f
left join raw.planes p using (tailnum)
""" + "\n".join(f"left join {name} using ({', '.join(keys)}, dn)"
                for name, (keys, _) in HISTORIES.items()) + """
order by f.d, f.carrier, f.flight, f.origin
"""
CATEGORICAL = ["carrier", "origin", "dest"]


def model(spec: dict) -> dict:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    frame = duckdb.connect(spec["database"], read_only=True).execute(REFERENCE_FEATURES).df()
    for column in CATEGORICAL:
        frame[column] = frame[column].astype("category").cat.codes
    inputs = [c for c in frame.columns if c not in ("d", "late")]
    train = frame[frame["d"] < np.datetime64("2013-10-01")]
    test = frame[frame["d"] >= np.datetime64("2013-10-01")]
    fitted = HistGradientBoostingClassifier(
        random_state=13, categorical_features=[inputs.index(c) for c in CATEGORICAL])
    fitted.fit(train[inputs].to_numpy(np.float64), train["late"])
    p_late = fitted.predict_proba(test[inputs].to_numpy(np.float64))[:, 1]
    return {"auc_oct_dec": round(float(roc_auc_score(test["late"], p_late)), 4),
            "test_flights": len(test), "positive_rate": round(float(test["late"].mean()), 3)}


if __name__ == "__main__":
    command, spec_json = sys.argv[1], sys.argv[2]
    print(json.dumps({"load": load, "model": model}[command](json.loads(spec_json))))
