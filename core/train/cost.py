"""What a training costs (the service level M6): CPU seconds and peak memory, measured by the
operating system for the process that trains."""

from __future__ import annotations

import resource
from contextlib import contextmanager

COSTS = ("cpu_seconds", "peak_memory_mb")  # what measured_cost reports


@contextmanager
def measured_cost():
    """Yields a dict filled when the block ends: ``cpu_seconds`` the process spent in it (all
    threads, user and system) and ``peak_memory_mb``, the process's peak resident memory so far
    (a run's process trains in it: its peak is the training's, or an earlier step's if higher)."""
    cost: dict[str, float] = {}
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        yield cost
    finally:
        after = resource.getrusage(resource.RUSAGE_SELF)
        cost["cpu_seconds"] = round(after.ru_utime + after.ru_stime
                                    - before.ru_utime - before.ru_stime, 1)
        cost["peak_memory_mb"] = round(after.ru_maxrss / 1024)  # Linux reports kilobytes
