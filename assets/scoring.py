"""ml/predictions: day D's flights scored with the champion, the day before they fly.

A day is scored as soon as its features exist: its schedule has landed and the history up to
the prediction time is in; no outcome of the day is needed (or read). Every row carries the
model version that scored it, whether that version trained on the day (in_sample), and when it
was served. Served predictions are never rewritten once their day has flown (core/serving.py).
"""

from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.failures import permanent_failure
from assets.keys import CHAMPION, FEATURES, ML_GROUP, PREDICTIONS, table_of
from assets.partitions import daily_partitions, window_days
from core.feature_table import LABEL, LABELS_TABLE, read_features
from core.modeling import onnx_predict_proba
from core.serving import serving_decision
from core.simulator import days_between
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

PREDICTIONS_TABLE = table_of(PREDICTIONS)
PREDICTIONS_DDL = f"""
create table if not exists {PREDICTIONS_TABLE} (
    flight_id varchar not null,
    flight_date date not null,
    model_version varchar not null,
    p_late double not null,
    predicted_late boolean not null,
    in_sample boolean not null,  -- the version trained on this day: not a fair test of it
    served_at timestamp not null
)
"""


def _labeled_days(con, first, last) -> set:
    return {day for (day,) in con.execute(
        f"select distinct flight_date from {LABELS_TABLE}"
        f" where flight_date between ? and ? and {LABEL} is not null", [first, last]).fetchall()}


@asset(
    key=PREDICTIONS,
    group_name=ML_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[FEATURES, CHAMPION],
    # New days are scored as their features arrive. A new champion does not rescore history:
    # it scores the days that come after it.
    automation_condition=when_parents_change(ignore=(CHAMPION,)),
    freshness_policy=DAILY_FRESHNESS,
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"onnx", "duckdb"},
    description="P(not on time) for every scheduled flight, served the day before it flies.",
)
def predictions(
    context: AssetExecutionContext,
    model_policy: ModelPolicy,
    model_store: ModelStore,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    served_at = datetime.now(timezone.utc).replace(tzinfo=None)
    decisions = {}
    with warehouse.transaction() as con:
        champion = registry.current_champion(con)
        if champion is None:
            raise permanent_failure("no champion model: materialize ml/champion first")
        directory = Path(champion.artifact_dir)
        features = read_features(con, first, last)
        scored = features[["flight_id", "flight_date"]].assign(
            model_version=champion.version,
            p_late=onnx_predict_proba(model_store.onnx_session(directory), features,
                                      model_store.inputs_of(directory)),
        )
        scored["predicted_late"] = scored["p_late"] >= model_policy.decision_threshold
        scored["in_sample"] = scored["flight_date"].dt.date <= champion.train_end
        scored["served_at"] = served_at
        con.execute(PREDICTIONS_DDL)
        labeled = _labeled_days(con, first, last)
        served = con.execute(
            f"select flight_id, flight_date, model_version, p_late from {PREDICTIONS_TABLE}"
            " where flight_date between ? and ?", [first, last]).df()
        for day in days_between(first, last):
            day_scored = scored[scored["flight_date"].dt.date == day]
            day_served = served[served["flight_date"].dt.date == day]
            decision = serving_decision(day, day_served, day_scored, day in labeled)
            decisions[day] = decision
            if decision.action == "frozen":
                context.log.warning(decision.reason)
            if decision.action in ("write", "replace"):
                con.execute(f"delete from {PREDICTIONS_TABLE} where flight_date = ?", [day])
                con.register("day_scored", day_scored)
                con.execute(f"insert into {PREDICTIONS_TABLE} by name select * from day_scored")
                con.unregister("day_scored")
    counts = {action: sum(1 for d in decisions.values() if d.action == action)
              for action in ("write", "keep", "replace", "frozen")}
    context.log.info(f"{first}..{last} with {champion.version}: {counts}")
    out_of_sample = scored[~scored["in_sample"]]
    return MaterializeResult(metadata={
        "dagster/row_count": len(scored),
        "model_version": champion.version,
        "days": MetadataValue.json(counts),
        "in_sample_rows": int(scored["in_sample"].sum()),
        "mean_p_late": round(float(out_of_sample["p_late"].mean()), 4) if len(out_of_sample)
        else None,
        "flagged_rate": round(float(scored["predicted_late"].mean()), 4) if len(scored) else None,
        **({"decision": f"{decisions[first].action}: {decisions[first].reason}"}
           if first == last else {}),
    })
