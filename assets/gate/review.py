"""review_<model>: an operator's decision, launched from the UI (Jobs -> review_<model> ->
Launchpad) or `make review`: promote or reject a challenger, roll back, pause or resume
automatic promotion, always with who and why (core/gate/review.py holds the rules).

A change of champion is also recorded as a materialization of ml/<model>/champion, so the
asset's page shows who changed it and why, and sensors/serving.py re-serves the days that have
not flown yet with the new champion.
"""

from dagster import Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from assets.gate.published import champion_changed
from assets.keys import ModelKeys
from core.gate.review import ACTIONS, ReviewError, review
from core.train.model_spec import ModelSpec
from resources.warehouse import WAREHOUSE_POOL, DuckDBWarehouse


class ReviewConfig(Config):
    action: str = Field(description=" | ".join(ACTIONS))
    version: str = Field(default="", description="the version acted on (promote, reject,"
                                                 " rollback); versions: ml.model_registry")
    who: str = Field(description="who decides (recorded)")
    why: str = Field(description="why (recorded)")


def build_review_job(spec: ModelSpec):
    keys = ModelKeys(spec.name)

    @op(name=keys.review_op, pool=WAREHOUSE_POOL)
    def review_op(context: OpExecutionContext, config: ReviewConfig,
                  warehouse: DuckDBWarehouse) -> None:
        try:
            with warehouse.transaction() as con:
                outcome = review(con, spec.name, config.action, config.version or None,
                                 config.who, config.why)
        except ReviewError as error:
            raise Failure(description=str(error), allow_retries=False) from error
        context.log.info(f"{config.who}: {config.action} {config.version}: {outcome.message}")
        if outcome.champion_after != outcome.champion_before:
            context.log_event(champion_changed(keys, outcome.champion_after,
                                               outcome.champion_before, config.action,
                                               f"{config.who}: {config.why}"))

    @job(name=keys.review_job,
         description=f"An operator's decision on {spec.name}: promote, reject, rollback, pause"
                     " or resume automatic promotion, with who and why.")
    def review_job():
        review_op()

    return review_job
