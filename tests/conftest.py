"""Shared fixtures: a real DuckDB file, real dbt and a real Dagster instance, all in temp dirs.

Building a window costs a dbt run (seconds), so one January + early February build is shared
by the read-only tests (session scope); tests that change data work on their own copies.
"""

import json
import os
import re
import shutil
import tempfile
import warnings
from datetime import date
from pathlib import Path

# One OpenMP thread per process, for every process the tests start (set before scikit-learn's
# OpenMP runtime loads, inherited by daemons, run workers and dbt). `make test` gives each of
# its two pytest-xdist workers a core, beside the daemons' runs and Spark's JVMs: on a machine
# that busy, OpenMP's threads spin waiting for one another, and a gradient-boosting fit with
# two threads took 2-6 times the CPU of one with one (docs/benchmarks.md, "The test suite").
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from dagster import AssetKey, BetaWarning, PreviewWarning
from filelock import FileLock
from hypothesis import settings as hypothesis_settings

import cli as cli_module
import definitions
import runner as runner_module
from instance.postgres import LocalPostgres
from spark.cluster import QUICK_START_JAVA_OPTIONS, LocalSparkCluster
from tools.sandbox import Platform

# The tests' Spark jobs build six weeks: short jobs, for which the JVMs' quick-start options
# halve their CPU (spark/cluster.py).
os.environ.setdefault("SPARK_JAVA_OPTIONS", QUICK_START_JAVA_OPTIONS)

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

# Property tests: `make test` runs a fixed, reproducible set of examples (derandomized, no example
# database); `make chaos` runs the same properties over many more random ones.
hypothesis_settings.register_profile("make-test", derandomize=True, database=None,
                                     max_examples=150, deadline=None)
hypothesis_settings.register_profile("chaos", max_examples=2000, database=None, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "make-test"))

SHARED_FIRST, SHARED_LAST = date(2013, 1, 1), date(2013, 2, 12)


CLASSIFIER = "not_on_time"  # the model most tests exercise


@pytest.fixture(scope="session")
def cli():
    return cli_module


@pytest.fixture(scope="session")
def runner():
    return runner_module


@pytest.fixture(scope="session")
def definitions_module():
    return definitions


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on loopback for the session (Debian's 15, made by
    instance/postgres.py as a deployment's own would be); each test takes a database of it."""
    # Outside pytest's temp root: the server runs as the postgres user, who cannot enter it.
    folder = Path(tempfile.mkdtemp(prefix="pg-test-"))
    folder.chmod(0o755)
    server = LocalPostgres(folder / "server")
    server.start()
    yield server
    server.remove()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory):
    """A Spark standalone master and two workers on loopback for the session (spark/cluster.py,
    as `make spark-up` starts a deployment's own)."""
    cluster = LocalSparkCluster(tmp_path_factory.mktemp("spark"), workers=2, memory="1g")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_database(postgres, request):
    """A database of its own on the session's server, for one test."""
    name = "t_" + re.sub(r"\W", "_", request.node.name)[:50].lower()
    return postgres.address().with_database(name)


@pytest.fixture(scope="session")
def repo_defs():
    """The Definitions as `dagster dev` loads them from the repo's settings."""
    return definitions.defs()


@pytest.fixture
def new_platform(tmp_path, definitions_module, runner):
    return lambda name="platform": Platform(tmp_path / name, definitions_module, runner)


@pytest.fixture(scope="session")
def built_platform(tmp_path_factory, worker_id, definitions_module, runner):
    """Jan 1 .. Feb 12 landed and materialized (raw, staging, features) through Dagster.

    Built once per test run: the first pytest-xdist worker to need it builds it in the run's
    shared temp folder, and every worker works on a copy of its own."""
    if worker_id == "master":  # not under xdist
        return _build(Platform(tmp_path_factory.mktemp("built"), definitions_module, runner))
    shared = tmp_path_factory.getbasetemp().parent / "built"  # this run's, all workers'
    with FileLock(f"{shared}.lock"):
        built = Platform(shared, definitions_module, runner)
        if not (shared / BUILT_OUTCOME).exists():
            _build(built)
            (shared / BUILT_OUTCOME).write_text(json.dumps(
                {key.to_user_string(): ok for key, ok in built.outcome.items()}))
        platform = built.clone(tmp_path_factory.mktemp("built"))
    platform.outcome = {AssetKey.from_user_string(key): ok for key, ok in
                        json.loads((shared / BUILT_OUTCOME).read_text()).items()}
    return platform


BUILT_OUTCOME = "outcome.json"  # written last: the build is complete


def _build(platform: Platform) -> Platform:
    platform.land(SHARED_FIRST, SHARED_LAST)
    platform.outcome = platform.materialize(SHARED_FIRST, SHARED_LAST)
    return platform
