"""A bound on how long a build waits for a cluster that gives it no executor.

When every worker is lost, Spark does not fail the running job: the driver waits for the
master to give it executors again, for as long as the workers take to come back, forever if
they do not. ``ExecutorWatch`` asks the driver every few seconds whether it has a job running
and no executor to run it on; once that has lasted ``patience`` seconds it cancels the driver's
jobs (and any started while it lasts), so the build fails with ``reason`` instead of hanging.
One worker lost is no reason: Spark runs its tasks again on the executors left.

A cancelled job replaces nothing: a table's partitions are swapped only when its job commits.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass
class Starvation:
    """How long the driver has had work and nothing to run it on."""

    patience: float  # seconds
    since: float | None = None  # when the driver was last seen with an executor, once it had work
    lost: bool = False  # patience ran out, and no executor has come back since

    def observe(self, now: float, running_jobs: int, executors: int) -> bool:
        """Whether the driver's jobs are to be cancelled, given what it reports at ``now``.
        Once patience has run out, every job started before an executor returns is cancelled
        at once: a build's later steps do not each wait again."""
        if executors > 0:
            self.since, self.lost = None, False
            return False
        if running_jobs == 0:
            return False
        if self.since is None:
            self.since = now
        self.lost = self.lost or now - self.since >= self.patience
        return self.lost


def live_executors(spark, timeout: float = 10) -> int | None:
    """The executors the driver has now (its monitoring REST API), or None if it does not say."""
    context = spark.sparkContext
    if not context.uiWebUrl:
        return None
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/executors"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            listed = json.load(response)
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return sum(1 for executor in listed if executor["id"] != "driver" and executor["isActive"])


class ExecutorWatch:
    """Watches ``spark``'s driver while the ``with`` block runs (a thread of its own)."""

    def __init__(self, spark, patience: float, poll: float = 2.0):
        self.spark, self.poll = spark, poll
        self.starvation = Starvation(patience)
        self.reason: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="spark-executor-watch",
                                        daemon=True)

    def __enter__(self) -> ExecutorWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopped.set()
        self._thread.join()

    def _watch(self) -> None:
        context = self.spark.sparkContext
        while not self._stopped.wait(self.poll):
            executors = live_executors(self.spark)
            if executors is None:
                continue  # a busy driver that does not answer is not a lost cluster
            running = len(context.statusTracker().getActiveJobsIds())
            if self.starvation.observe(time.monotonic(), running, executors):
                self.reason = self.reason or (
                    f"the Spark cluster at {context.master} gave the build no executor for"
                    f" {self.starvation.patience:.0f} s (every worker lost, or its cores taken by"
                    " other applications?), so its jobs were cancelled (a table whose job was"
                    " cancelled keeps its partitions). Check the cluster (`make spark-up` starts"
                    " the deployment's own) and run again.")
                context.cancelAllJobs()
