"""Where a command's CPU goes, by kind of process: run it, read every process's CPU time from
/proc once a second, and print the processes started while it ran, grouped by what they are
(pytest's workers, run workers, code servers, Spark's JVMs, dbt, PostgreSQL, ...).

    python -m tools.process_cpu make test      # or: make test-cpu

Processes that pg_ctl or Spark's scripts detach count too (they are found by start time, not
by parent). A process's last second, and a process shorter than a second, can be missed: the
total is a little under what the processes used. Linux only.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")

# (kind, any of these in the command line), first match wins: the Java classes before the
# Python ones, since Spark's JVMs are started by Python scripts whose paths they carry.
KINDS = [
    ("Spark executors", ("CoarseGrainedExecutorBackend",)),
    ("Spark drivers (dbt's and the warehouse's sessions)", ("SparkSubmit",)),
    ("Spark master and workers", ("deploy.master.Master", "deploy.worker.Worker")),
    ("Spark's Python workers and scripts", ("pyspark.daemon", "pyspark/bin/")),
    ("Hive metastore", ("HiveMetaStore",)),
    ("PostgreSQL", ("/postgresql/", "postgres: ")),
    ("pytest (the tests' own processes: in-process runs, dbt, training)",
     ("execnet", "exec(eval(sys.stdin.readline()))", "-m pytest")),
    ("run workers (one per daemon run)", ("internals.run_worker", "execute_run")),
    ("code servers (one per workspace load)", ("dagster api grpc",)),
    ("daemons", ("dagster-daemon",)),
    ("webservers", ("dagster-webserver",)),
    ("dbt subprocesses", ("bin/dbt ",)),
    ("chromium", ("chrom",)),
    ("lint", ("ruff", "sqlfluff")),
    ("install", ("bin/uv ", "pip install", "apt", "dpkg")),
    ("shells and tails", ("bash ", "/bin/sh ", "tail -F", "make ")),
]


def kind_of(command: str) -> str:
    for kind, marks in KINDS:
        if any(mark in command for mark in marks):
            return kind
    return "other"


@dataclass
class Process:
    command: str
    cpu_seconds: float


def read(pid: str) -> tuple[int, float, str] | None:
    """(start tick, CPU seconds, command line) of ``pid``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after the (name), which may hold spaces
    return int(fields[19]), (int(fields[11]) + int(fields[12])) / TICKS, command


def machine_busy_seconds() -> float:
    """CPU time every core has spent busy since boot (user, nice, system, interrupts)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / TICKS


def boot_ticks_now() -> int:
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * TICKS)


def sample(processes: dict[tuple[str, int], Process], since: int) -> None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        seen = read(pid)
        if seen is None or seen[0] < since:
            continue
        start, cpu, command = seen
        known = processes.setdefault((pid, start), Process(command, cpu))
        known.cpu_seconds = cpu
        known.command = command or known.command  # a zombie's is empty; an exec changes it


def report(processes: dict, wall_seconds: float, busy_seconds: float | None = None,
           others_shown: int = 5) -> str:
    """The table; ``busy_seconds``, what the machine's cores spent meanwhile, also gives what
    no sampled process accounts for."""
    kinds = {key: kind_of(process.command) for key, process in processes.items()}
    by_kind: dict[str, list[float]] = {}
    for key, process in processes.items():
        totals = by_kind.setdefault(kinds[key], [0, 0.0])
        totals[0] += 1
        totals[1] += process.cpu_seconds
    total = sum(cpu for _, cpu in by_kind.values()) or 1e-9  # a command that used none
    lines = [f"{'CPU s':>8} {'share':>6} {'processes':>9}  kind"]
    for kind, (count, cpu) in sorted(by_kind.items(), key=lambda item: -item[1][1]):
        lines.append(f"{cpu:8.0f} {cpu / total:6.0%} {count:9d}  {kind}")
    lines.append(f"{total:8.0f} CPU seconds in {wall_seconds:.0f} s of wall clock "
                 f"({total / wall_seconds:.2f} cores busy on average; {os.cpu_count()} here)")
    if busy_seconds is not None:
        lines.append(f"{busy_seconds:8.0f} CPU seconds the machine was busy meanwhile: "
                     f"{busy_seconds - total:.0f} s in no sampled process (processes under a "
                     "second, last seconds, processes older than the command)")
    others = sorted((process for key, process in processes.items() if kinds[key] == "other"),
                    key=lambda process: -process.cpu_seconds)[:others_shown]
    if others:
        lines.append("the heaviest others:")
        lines.extend(f"{p.cpu_seconds:8.0f}  {p.command[:110]}" for p in others)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    since, started, busy = boot_ticks_now(), time.monotonic(), machine_busy_seconds()
    processes: dict = {}
    command = subprocess.Popen(argv)
    while command.poll() is None:
        sample(processes, since)
        time.sleep(1)
    sample(processes, since)
    print(report(processes, time.monotonic() - started, machine_busy_seconds() - busy))
    return command.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
