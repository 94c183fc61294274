"""A landing's runs, requested together by the new-data sensor (sensors/new_data.py), run side
by side: their processes start at once instead of one after another. The one run that serves a
day waits, before its dbt build, for the landing's other runs (the outcomes its features'
labels are built from) to finish: it asks Dagster to retry the step in a second, which frees
the warehouse for them meanwhile.
"""

from dagster import DagsterRunStatus, RetryRequested, RunsFilter

LANDING_BATCH_TAG = "landing/batch"  # the same on every run of one landing
WAITS_TAG = "landing/waits_for_batch"  # on the run that builds and serves
FILES_TAG = "landing/files"  # the run's landing files: dataset/day.csv, comma-separated
# When the newest of those files landed (epoch seconds), as the sensor saw it: a file re-sent
# later must not move when an earlier run's files landed.
LANDED_AT_TAG = "landing/landed_at"
UNFINISHED = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# Long enough for the landing's other runs to wait in the queue and run (a backlog's too).
WAIT_SECONDS, WAIT_TRIES = 1, 600


def wait_for_the_rest_of_the_landing(context) -> None:
    """Raise RetryRequested while another run of this run's landing is not finished."""
    tags = context.run.tags
    if tags.get(WAITS_TAG) != "true" or not tags.get(LANDING_BATCH_TAG):
        return
    others = [run.run_id[:8] for run in context.instance.get_runs(
        RunsFilter(tags={LANDING_BATCH_TAG: tags[LANDING_BATCH_TAG]}, statuses=UNFINISHED))
        if run.run_id != context.run.run_id]
    if others:
        context.log.info(f"waiting for the landing's run(s) {', '.join(others)}: the labels"
                         " these features read come from them")
        raise RetryRequested(max_retries=WAIT_TRIES, seconds_to_wait=WAIT_SECONDS)
