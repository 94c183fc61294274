"""A run worker started before its run (internals/run_launcher.py starts it).

It imports the libraries that runs use (the modules named on its command line) and warms dbt
up on the project (below), then waits for one line on stdin: Dagster's ExecuteRunArgs,
serialized, as `dagster api execute_run` takes them. The run is then executed by that very
command's code, in this process, so a run here is what Dagster's own run worker does; the
repo's code is imported only now, by the run (an edit made while this process waited is what
the run executes). End of input without a line (the launcher disposed of, the daemon stopped)
ends the process without running anything.

    python -m internals.run_worker [--dbt-project DIR] MODULE...
"""

import argparse
import gc
import importlib
import shutil
import sys
import tempfile
from pathlib import Path


def warm_up_dbt(project_dir: Path) -> None:
    """Parse the project into a throwaway folder. dbt's first parse in a process spends ~1 s
    generating its (de)serialisation code and JSON schemas (2.0 s, then 1.0 s for the same
    parse, measured here); the run's own parse, into its own folder, is then the second.

    The flags and the seeding of partial parsing repeat, in short, what
    internals/dbt_in_process.py does for a build: importing that module here would load repo
    code before the run, which would then run it as it was when this worker started."""
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory(prefix="dbt-warm-up-") as scratch:
        state = project_dir / "target" / "partial_parse.msgpack"
        if state.exists():
            shutil.copy(state, scratch)
        outcome = dbtRunner().invoke([
            "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
            "--target-path", scratch, "--log-path", scratch, "--quiet", "--no-write-json",
            "--no-send-anonymous-usage-stats"])
    if not outcome.success:  # only slower: the run parses (and reports) on its own
        print(f"run_worker: dbt's warm-up parse failed: {outcome.exception}",
              file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="run_worker")
    parser.add_argument("--dbt-project", type=Path)
    parser.add_argument("modules", nargs="*")
    options = parser.parse_args(argv)
    try:
        for module in options.modules:
            importlib.import_module(module)
        if options.dbt_project:
            warm_up_dbt(options.dbt_project)
        from dagster._cli.api import execute_run_command
        gc.collect()  # while waiting: what is left is what the run is given (below)
        line = sys.stdin.readline().strip()
    except KeyboardInterrupt:  # stopped while waiting (the session's Ctrl-C): nothing ran
        return 0
    if not line:
        return 0
    # What was loaded before lives as long as the process: frozen, the garbage collector's full
    # passes during the run leave it alone (gc.freeze; thawed after, or DuckDB's bindings
    # report what the exit could not free as leaks).
    gc.freeze()
    try:  # sys.exit inside on a failed run when the launcher asked for an exit code
        execute_run_command.callback(input_json=line, compressed_input_json=None)
    finally:
        gc.unfreeze()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
