"""Failures that no retry can fix: bad input, and a precondition the user has to meet first.

Assets that touch the warehouse retry transient errors with backoff (WAREHOUSE_RETRY in
resources/warehouse.py). Raising ``permanent_failure(...)`` skips those retries, so the run
fails at once with a message that says what to do.
"""

from dagster import Failure


def permanent_failure(message: str, **metadata) -> Failure:
    return Failure(description=message, metadata=metadata, allow_retries=False)
