"""ml/<model>/shadow_predictions: the challenger scores every new day beside the champion,
never served (ml.<model>_shadow_predictions, one row per flight and shadowing version).

Once a challenger is trained it waits in shadow: day by day the same features the champion
is served from are scored by it too, so that when the day's labels land, ml/<model>/champion
judges both on it. Without a challenger (every model is the champion, archived, rejected or
rolled back) the asset records that nothing shadows.
"""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.keys import FEATURES, ML_GROUP, ModelKeys, table_of
from assets.partitions import window_days
from assets.policies import DAILY, WAREHOUSE_STEP, when_parents_change
from assets.serve.predictions import refuse_skewed, score_days, serving_skew, skew_metadata
from core.gate import registry
from core.train.model_spec import ModelSpec
from resources.model_store import ModelStore
from resources.warehouse import DuckDBWarehouse


def build_shadow_predictions(spec: ModelSpec):
    keys = ModelKeys(spec.name)
    table = table_of(keys.shadow_predictions)

    @asset(
        key=keys.shadow_predictions,
        group_name=ML_GROUP,
        **DAILY, **WAREHOUSE_STEP,
        deps=[FEATURES, keys.champion],
        automation_condition=when_parents_change(ignore=(keys.champion,)),
        kinds={"onnx", "duckdb"},
        description=f"{spec.name}: the challenger's predictions of each new day, beside the"
                    f" champion's, never served ({table}).",
    )
    def shadow_predictions(context: AssetExecutionContext, model_store: ModelStore,
                           warehouse: DuckDBWarehouse) -> MaterializeResult:
        first, last = window_days(context.partition_time_window)
        with warehouse.connect(read_only=True) as con:
            challenger = registry.shadowing_model(con, spec.name)
            if challenger is None:
                context.log.info(f"{first}..{last}: no challenger is waiting; nothing shadows")
                return MaterializeResult(metadata={"shadow_version": "", "dagster/row_count": 0})
            scored, features = score_days(con, model_store, challenger, spec, first, last)
        skew, blocked = serving_skew(model_store, challenger, features)
        if blocked:  # nothing stored; the gate rejects a version that failed this check
            raise refuse_skewed(warehouse, challenger, blocked, f"{first}..{last}: the challenger")
        with warehouse.transaction() as con:
            con.register("scored", scored)
            con.execute(f"create table if not exists {table} as select * from scored limit 0")
            con.execute(f"delete from {table} where flight_date between ? and ?"
                        " and model_version = ?", [first, last, challenger.version])
            con.execute(f"insert into {table} by name select * from scored")
            con.unregister("scored")
        context.log.info(f"{first}..{last}: {len(scored):,} flights shadowed by"
                         f" {challenger.version} ({challenger.stage})")
        return MaterializeResult(metadata={
            "shadow_version": challenger.version,
            "stage": challenger.stage,
            "dagster/row_count": len(scored),
            "flagged_rate": round(float(scored["flagged"].mean()), 3) if len(scored) else None,
            **skew_metadata(skew),
        })

    return shadow_predictions
