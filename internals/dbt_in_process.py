"""dbt builds in the run's own process: dagster-dbt's asset events, from dbt's Python API.

dagster-dbt starts a dbt subprocess for every build. Under the daemon a day's build paid ~4 s
for that before dbt ran a single model: a Python process starting and importing dbt (~2 s,
though the run's process has imported dbt already, for dagster-dbt) and dbt loading its parsed
project again (~1.5 s). Here dbt runs in this process (dbt's documented ``dbtRunner``), and the
project is parsed once per process and handed to every build (dbt's "reusing objects"): the
window reaches dbt as environment variables read only when SQL is compiled, so one parse serves
every window. Measured on a day's build: 6.3 s as a subprocess, 2.1-2.6 s here.

Events are dbt's own structured log messages, turned into Dagster events by dagster-dbt's
event class, the same path its subprocess invocation takes with dbt's JSON log lines. That
event class and dagster-dbt's selection helpers, like dbt-duckdb's connection manager, are
internals of the versions pinned in pyproject.toml: check this module when upgrading them.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from dagster import get_dagster_logger
from dagster_dbt import DbtCliResource
from dagster_dbt.asset_utils import (
    extract_runtime_selection_from_args,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.dagster_dbt_translator import DagsterDbtTranslator
from dagster_dbt.errors import DagsterDbtCliRuntimeError
from dbt_common.events.functions import msg_to_dict

from resources.dbt import dbt_project_files

# dagster-dbt makes Dagster events of these (models, seeds, snapshots, data tests); the rest of
# dbt's ~1,000 messages per build are only printed.
_RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})
_PARTIAL_PARSE_FILE = "partial_parse.msgpack"
_DONE = object()

_parsed_project: tuple[tuple, object] | None = None  # (what it was parsed from, the Manifest)
_parse_guard = threading.Lock()
logger = get_dagster_logger()


def stream_dbt_build(args: Sequence[str], *, context, dbt: DbtCliResource, target_path: Path,
                     parse_independent_env: Sequence[str] = ()) -> Iterator:
    """Run ``dbt <args>`` here for the assets the context selected, yielding dagster-dbt's
    events as dbt finishes each node; raise DagsterDbtCliRuntimeError if dbt fails.

    ``parse_independent_env``: environment variables dbt reads only at execution time, so a
    parsed project stays valid when they change (the build window)."""
    args, runtime_selects, runtime_excludes = extract_runtime_selection_from_args(args)
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=DagsterDbtTranslator(),
        runtime_selects=runtime_selects, runtime_excludes=runtime_excludes)
    # dagster-dbt may build a large selection from a copy of the project, with a selector.
    project_dir = str(params.dbt_project.project_dir if params.dbt_project else dbt.project_dir)
    target_path = Path(target_path)
    where = location_args(project_dir, dbt.profiles_dir or project_dir, target_path,
                          dbt.profile, dbt.target)
    selection = list(params.selection_args)
    if params.indirect_selection:
        selection += ["--indirect-selection", params.indirect_selection]
    parsed = parsed_project(project_dir, where, target_path, parse_independent_env)
    build = _DbtInvocation([*args, *where, *selection], parsed)
    for raw_event in build.events():
        yield from DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={}
                                          ).to_default_asset_events(
            manifest=params.manifest, dagster_dbt_translator=params.dagster_dbt_translator,
            context=context, target_path=target_path, project=params.dbt_project)
    build.raise_on_failure(target_path)


def run_dbt(args: Sequence[str], *, project_dir: Path, profiles_dir: Path, target_path: Path,
            parse_independent_env: Sequence[str] = ()) -> None:
    """Run ``dbt <args>`` here for the platform's own work, with no Dagster events (a rebuild
    in another warehouse); raise DagsterDbtCliRuntimeError if dbt fails."""
    target_path = Path(target_path)
    where = location_args(str(project_dir), str(profiles_dir), target_path)
    parsed = parsed_project(str(project_dir), where, target_path, parse_independent_env)
    invocation = _DbtInvocation([*args, *where, "--quiet"], parsed)
    for _ in invocation.events():
        pass
    invocation.raise_on_failure(target_path)


def location_args(project_dir: str, profiles_dir: str, target_path: Path,
                  profile: str | None = None, target: str | None = None) -> list[str]:
    """Where the project, its profile and the artifacts are: the same for the parse and the
    build."""
    where = ["--project-dir", project_dir, "--profiles-dir", profiles_dir,
             "--target-path", str(target_path), "--log-path", str(target_path),
             "--no-send-anonymous-usage-stats"]
    if profile:
        where += ["--profile", profile]
    if target:
        where += ["--target", target]
    return where


def parsed_project(project_dir: str, where: Sequence[str], target_path: Path,
                   parse_independent_env: Sequence[str] = ()):
    """dbt's parsed project (its Manifest), parsed once per process for the same files, flags
    and environment: re-parsed after an edit of a model, macro or YAML, or when an environment
    variable changes that dbt may read while parsing (e.g. the profile's warehouse path)."""
    environment = frozenset((name, value) for name, value in os.environ.items()
                            if name not in parse_independent_env)
    files = frozenset((str(path), path.stat().st_mtime_ns)
                      for path in dbt_project_files(Path(project_dir)))
    key = (tuple(where), environment, files)
    global _parsed_project
    with _parse_guard:
        if _parsed_project is None or _parsed_project[0] != key:
            _seed_partial_parsing(Path(project_dir), target_path)
            # No manifest.json (~0.3 s of a 1 s parse): the build writes its own; the parse
            # state it keeps (partial_parse.msgpack) is written all the same.
            parse = _DbtInvocation(["parse", *where, "--quiet", "--no-write-json"], None)
            list(parse.events())
            parse.raise_on_failure(target_path)
            _parsed_project = (key, parse.result)  # one project per process is the normal case
        return _parsed_project[1]


def _seed_partial_parsing(project_dir: Path, target_path: Path) -> None:
    # As dagster-dbt does: a new target folder starts from the project's own parse state, so
    # that only what differs is parsed again.
    source = project_dir / "target" / _PARTIAL_PARSE_FILE
    destination = target_path / _PARTIAL_PARSE_FILE
    if source.exists() and not destination.exists():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, destination)


class _DbtInvocation:
    """One dbtRunner call on a thread of its own, so that its result events reach Dagster as
    dbt emits them (the run's progress is visible while dbt works)."""

    def __init__(self, args: Sequence[str], manifest) -> None:
        self.args = list(args)
        self.manifest = manifest
        self.result = None
        self.success = False
        self.exception: BaseException | None = None
        self.error_messages: list[str] = []
        self._events: queue.Queue = queue.Queue()

    def events(self) -> Iterator[Mapping]:
        thread = threading.Thread(target=self._invoke, name="dbt", daemon=True)
        thread.start()
        logger.info(f"Running dbt in process: `dbt {' '.join(self.args)}`")
        try:
            while (event := self._events.get()) is not _DONE:
                yield event
        finally:
            thread.join()

    def _invoke(self) -> None:
        from dbt.cli.main import dbtRunner  # noqa: PLC0415 - dbt's import is heavy

        try:
            outcome = dbtRunner(manifest=self.manifest, callbacks=[self._on_event]).invoke(self.args)
            self.result, self.success, self.exception = (outcome.result, outcome.success,
                                                         outcome.exception)
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread
            self.exception = error
        finally:
            self._events.put(_DONE)

    def _on_event(self, message) -> None:
        if message.info.level == "error":
            self.error_messages.append(message.info.msg)
        if message.info.name in _RESULT_EVENTS:
            self._events.put(msg_to_dict(message))

    def raise_on_failure(self, target_path: Path) -> None:
        if self.success:
            return
        details = "\n\n".join(["", "Errors reported by dbt:", *self.error_messages]
                              ) if self.error_messages else ""
        raise DagsterDbtCliRuntimeError(
            description=(f"dbt `{' '.join(self.args)}` failed"
                         f"{f': {self.exception}' if self.exception else ''}; dbt's log: "
                         f"{target_path / 'dbt.log'}.{details}")) from self.exception
