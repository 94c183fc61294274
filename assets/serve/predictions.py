"""ml/<model>/predictions: day D's flights scored with the champion, the day before they fly.

A day is scored as soon as its features exist: its schedule has landed and the history up to
the prediction time is in; no outcome of the day is needed (or read). Every row carries the
model version that scored it, whether that version trained on the day (in_sample), and when it
was served. Served predictions are never rewritten once their day has flown (core/serve/serving.py).
"""

from datetime import datetime, timezone
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.failures import permanent_failure
from assets.keys import FEATURES, ML_GROUP, ModelKeys
from assets.partitions import window_days
from assets.policies import DAILY, WAREHOUSE_STEP, when_parents_change
from core.evaluate.model_card import markdown_table
from core.gate import registry
from core.gate.registry import SERVING_SKEW
from core.ingest.upstream import days_between
from core.serve.serving import serving_decisions
from core.serve.skew import blocking_skew, skew_table
from core.train.model_spec import ModelSpec
from core.transform.feature_table import LABELS_TABLE, predictions_table, read_features
from core.transform.model_inputs import ModelInputs
from resources.landing import LandingZone
from resources.model_store import ModelStore
from resources.warehouse import DuckDBWarehouse


def predictions_ddl(table: str) -> str:
    return f"""
create table if not exists {table} (
    flight_id varchar not null,
    flight_date date not null,
    model_version varchar not null,
    prediction double not null,  -- P(label) for a classifier, the label's value for a regressor
    flagged boolean not null,  -- prediction >= the spec's serving.flag_above: act on it
    in_sample boolean not null,  -- the version trained on this day: not a fair test of it
    served_at timestamp not null
)
"""


def _labeled_days(con, label: str, first, last) -> set:
    return {day for (day,) in con.execute(
        f"select distinct flight_date from {LABELS_TABLE}"
        f" where flight_date between ? and ? and {label} is not null", [first, last]).fetchall()}


def score_days(con, model_store: ModelStore, model, spec: ModelSpec, first, last):
    """Every scheduled flight of days first..last scored by ``model`` (a registered version):
    flight_id, flight_date, model_version, prediction, flagged, in_sample; and the features
    it was scored from."""
    features = read_features(con, first, last, spec.feature_model)
    scored = features[["flight_id", "flight_date"]].assign(
        model_version=model.version,
        prediction=model_store.serve(Path(model.artifact_dir), features, spec.task),
    )
    scored["flagged"] = scored["prediction"] >= spec.flag_above
    scored["in_sample"] = scored["flight_date"].dt.date <= model.train_end
    return scored, features


def serving_skew(model_store: ModelStore, model, features) -> tuple:
    """Each input of ``model`` as served in ``features`` against its training set
    (core/serve/skew.py), and why serving is blocked (None: it is not)."""
    metadata = model_store.read_metadata(Path(model.artifact_dir))
    profile = metadata.get("input_profile")
    if profile is None:  # versions trained before profiles were kept
        return None, None
    table = skew_table(profile, features, ModelInputs.from_dict(metadata["inputs"]))
    return table, blocking_skew(table)


def refuse_skewed(warehouse: DuckDBWarehouse, model, reason: str, what: str):
    """Record that ``model`` failed the serving-skew check (the gate never promotes it, it
    shadows no more) and fail the run, which alerts."""
    with warehouse.transaction() as con:
        registry.record_check(con, model.version, SERVING_SKEW, False, reason)
    return permanent_failure(f"{what} {model.version} is not served: {reason}")


def skew_metadata(table) -> dict:
    """The inputs that moved most between training and serving, for the asset's page."""
    if table is None or table.empty:
        return {}
    shown = table.sort_values(["blocks", "psi"], ascending=False).head(8)
    return {"serving_skew": MetadataValue.md(markdown_table(shown)),
            "max_input_psi": float(table["psi"].max())}


def _store_days(con, table: str, scored, days: list) -> None:
    """Replace the stored predictions of ``days`` with their rows of ``scored``, in one go."""
    if not days:
        return
    con.execute(f"delete from {table} where list_contains(?, flight_date)", [days])
    con.register("scored", scored)
    con.execute(f"insert into {table} by name select * from scored"
                " where list_contains(?, cast(flight_date as date))", [days])
    con.unregister("scored")


def served_after_landing(landing: LandingZone, decision, day, served_at: datetime,
                         lead_days: int) -> float | None:
    """Seconds from the landing of what ``day`` is served from to its predictions being stored:
    the latency operators watch (a plot over days in the asset's metadata). Only for a day
    served now, ahead of its flights; a backfill of old days has no such latency."""
    landed = landing.landed_at(day, lead_days)
    if decision.action not in ("write", "replace") or landed is None:
        return None
    return round(served_at.replace(tzinfo=timezone.utc).timestamp() - landed, 1)


def build_predictions(spec: ModelSpec, prediction_lead_days: int):
    keys = ModelKeys(spec.name)
    table = predictions_table(spec.name)
    what = f"P({spec.label})" if spec.is_classifier else f"the expected {spec.label}"

    @asset(
        key=keys.predictions,
        group_name=ML_GROUP,
        **DAILY, **WAREHOUSE_STEP,
        deps=[FEATURES, keys.champion],
        # New days are scored as their features arrive. A new champion does not rescore
        # history: sensors/serving.py has it serve the days not flown yet.
        automation_condition=when_parents_change(ignore=(keys.champion,)),
        kinds={"onnx", "duckdb"},
        description=f"{spec.name}: {what} for every scheduled flight, served the day before it"
                    f" flies ({table}).",
    )
    def predictions(context: AssetExecutionContext, model_store: ModelStore,
                    warehouse: DuckDBWarehouse, landing: LandingZone) -> MaterializeResult:
        first, last = window_days(context.partition_time_window)
        served_at = datetime.now(timezone.utc).replace(tzinfo=None)
        with warehouse.transaction() as con:
            champion = registry.current_champion(con, spec.name)
            if champion is None:
                raise permanent_failure(
                    f"no champion model: materialize {keys.champion.to_user_string()} first")
            scored, features = score_days(con, model_store, champion, spec, first, last)
            skew, blocked = serving_skew(model_store, champion, features)
            if not blocked:
                scored["served_at"] = served_at
                con.execute(predictions_ddl(table))
                labeled = _labeled_days(con, spec.label, first, last)
                served = con.execute(
                    f"select flight_id, flight_date, model_version, prediction from {table}"
                    " where flight_date between ? and ?", [first, last]).df()
                decisions = serving_decisions(days_between(first, last), served, scored,
                                              labeled)
                for decision in decisions.values():
                    if decision.action == "frozen":
                        context.log.warning(decision.reason)
                _store_days(con, table, scored, [day for day, decision in decisions.items()
                                                 if decision.action in ("write", "replace")])
        if blocked:
            raise refuse_skewed(warehouse, champion, blocked, f"{first}..{last}: the champion")
        counts = {action: sum(1 for d in decisions.values() if d.action == action)
                  for action in ("write", "keep", "replace", "frozen")}
        context.log.info(f"{first}..{last} with {champion.version}: {counts}")
        out_of_sample = scored[~scored["in_sample"]]
        latency = served_after_landing(landing, decisions[last], last, served_at,
                                       prediction_lead_days)
        return MaterializeResult(metadata={
            "dagster/row_count": len(scored),
            "model_version": champion.version,
            "days": MetadataValue.json(counts),
            "in_sample_rows": int(scored["in_sample"].sum()),
            "mean_prediction": round(float(out_of_sample["prediction"].mean()), 4)
            if len(out_of_sample) else None,
            "flagged_rate": round(float(scored["flagged"].mean()), 4) if len(scored) else None,
            **({"decision": f"{decisions[first].action}: {decisions[first].reason}"}
               if first == last else {}),
            # Numeric: the UI plots it over the materializations, day after day.
            **({"served_after_landing_s": latency} if latency is not None else {}),
            **skew_metadata(skew),
        })

    return predictions
