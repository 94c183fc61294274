"""ml/predictions: daily batch scoring of the features with the champion's ONNX model.

Every row carries the model version that scored it. A run over many days builds one
onnxruntime session (the model store caches it) and replaces exactly its days.
"""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, asset

from assets.automation import DAILY_FRESHNESS, when_parents_change
from assets.champion import CHAMPION_KEY
from assets.dbt import FEATURES_KEY
from assets.failures import permanent_failure
from assets.modeling import onnx_predict_proba
from assets.partitions import daily_partitions, window_days
from assets.training import ML_GROUP
from resources import registry
from resources.model_store import ModelPolicy, ModelStore
from resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_RETRY, DuckDBWarehouse

PREDICTIONS_KEY = AssetKey(["ml", "predictions"])
PREDICTIONS_DDL = """
create table if not exists ml.predictions (
    flight_id varchar not null,
    flight_date date not null,
    model_version varchar not null,
    p_delayed double not null,
    predicted_delayed boolean not null
)
"""


@asset(
    key=PREDICTIONS_KEY,
    group_name=ML_GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[FEATURES_KEY, CHAMPION_KEY],
    # New days are scored as their features arrive. A new champion does not rescore history:
    # it scores the days that come after it.
    automation_condition=when_parents_change(ignore=(CHAMPION_KEY,)),
    freshness_policy=DAILY_FRESHNESS,
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
    kinds={"onnx", "duckdb"},
    description="P(arrival delay > 15 min) per flight, from the champion model.",
)
def predictions(
    context: AssetExecutionContext,
    model_policy: ModelPolicy,
    model_store: ModelStore,
    warehouse: DuckDBWarehouse,
) -> MaterializeResult:
    first, last = window_days(context.partition_time_window)
    with warehouse.transaction() as con:
        champion = registry.current_champion(con)
        if champion is None:
            raise permanent_failure("no champion model: materialize ml/champion first")
        features = con.execute(
            "select * from features.flight_features where flight_date between ? and ?"
            " order by flight_date, flight_id",
            [first, last],
        ).df()
        session = model_store.onnx_session(Path(champion.artifact_dir))
        scored = features[["flight_id", "flight_date"]].assign(
            model_version=champion.version,
            p_delayed=onnx_predict_proba(session, features) if len(features) else [],
        )
        scored["predicted_delayed"] = scored["p_delayed"] >= model_policy.decision_threshold
        con.execute(PREDICTIONS_DDL)
        con.execute("delete from ml.predictions where flight_date between ? and ?", [first, last])
        con.register("scored", scored)
        con.execute("insert into ml.predictions select * from scored")
        con.unregister("scored")
    context.log.info(f"scored {len(scored):,} flights {first}..{last} with {champion.version}")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(scored),
            "model_version": champion.version,
            "mean_p_delayed": float(scored["p_delayed"].mean()) if len(scored) else 0.0,
            "flagged_rate": float(scored["predicted_delayed"].mean()) if len(scored) else 0.0,
        }
    )
