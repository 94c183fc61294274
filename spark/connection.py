"""How the platform reaches Spark: the master's URL, the catalog's, the lake folder.

dbt's `spark` target (dbt_project/profiles.yml) reads the same three settings from the
environment that ``dbt_environment()`` sets, and ``session()`` opens a driver with the same
Spark configuration (tests/wiring/test_spark_profile.py holds the two to each other), so that
what dbt builds is what the Python side reads.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from spark.cluster import LocalSparkCluster, SparkUnavailable, java_options_from_env

# The Dagster pool of the steps that build on Spark. Its limit is how many builds the cluster
# holds at once (SPARK_CONCURRENT_BUILDS, each capped at SPARK_CORES_PER_BUILD cores): a build
# that waited for cores would look, to its ExecutorWatch, like one whose workers were lost.
SPARK_POOL = "spark"


def concurrent_builds_from_env() -> int:
    return int(os.environ.get("SPARK_CONCURRENT_BUILDS", 2))  # the own cluster: 2 x 1 core


@dataclass(frozen=True)
class SparkConnection:
    master: str  # spark://host:port of a standalone master (or local[N], for a quick try)
    metastore_uri: str  # thrift://host:port of the Hive metastore every driver shares
    lake_dir: Path  # the tables' Parquet: raw/<table>/ and Spark's <schema>.db/
    # How long a build waits with work and no executor (every worker lost) before it fails
    # (spark/executor_watch.py). Spark itself would wait until the workers came back.
    executor_wait_seconds: float = 120
    cores_per_build: int = 1  # spark.cores.max of each driver
    java_options: str = ""  # each driver's and executor's (SPARK_JAVA_OPTIONS: spark/cluster.py)

    @classmethod
    def from_env(cls, data_dir: Path) -> SparkConnection:
        """SPARK_MASTER and SPARK_METASTORE_URI, else the deployment's own cluster's (`make
        spark-up`); SPARK_LAKE_DIR, else a folder under the data directory;
        SPARK_EXECUTOR_WAIT_SECONDS, SPARK_CORES_PER_BUILD, SPARK_JAVA_OPTIONS."""
        data_dir = Path(data_dir)
        own = LocalSparkCluster(data_dir / "spark")
        master = os.environ.get("SPARK_MASTER") or own.started_master_url()
        metastore = os.environ.get("SPARK_METASTORE_URI") or own.started_metastore_uri()
        if not (master and metastore):
            raise SparkUnavailable(
                f"no Spark {'master' if not master else 'metastore'}: `make spark-up` starts"
                f" the deployment's own in {data_dir / 'spark'}, or set SPARK_MASTER and"
                f" SPARK_METASTORE_URI to a cluster's")
        return cls(master=master, metastore_uri=metastore,
                   lake_dir=Path(os.environ.get("SPARK_LAKE_DIR", data_dir / "lake")).resolve(),
                   executor_wait_seconds=float(os.environ.get("SPARK_EXECUTOR_WAIT_SECONDS", 120)),
                   cores_per_build=int(os.environ.get("SPARK_CORES_PER_BUILD", 1)),
                   java_options=java_options_from_env())

    def environment(self) -> dict[str, str]:
        """The variables ``from_env`` reads, set to this connection's values."""
        return {"SPARK_MASTER": self.master, "SPARK_METASTORE_URI": self.metastore_uri,
                "SPARK_LAKE_DIR": str(self.lake_dir),
                "SPARK_EXECUTOR_WAIT_SECONDS": f"{self.executor_wait_seconds:g}",
                "SPARK_CORES_PER_BUILD": str(self.cores_per_build),
                "SPARK_JAVA_OPTIONS": self.java_options}

    def dbt_environment(self) -> dict[str, str]:
        """What dbt's spark target reads (profiles.yml). The executors run this interpreter:
        pyspark tells them PYSPARK_PYTHON, not its spark.pyspark.python setting."""
        return {"DBT_TARGET": "spark", **self.environment(),
                "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}

    def spark_conf(self) -> dict[str, str]:
        """The driver's configuration: the same as profiles.yml's server_side_parameters."""
        return {
            "spark.master": self.master,
            "spark.app.name": "dbt",
            "spark.sql.warehouse.dir": str(self.lake_dir),
            "spark.sql.session.timeZone": "UTC",
            "spark.hadoop.hive.metastore.uris": self.metastore_uri,
            "spark.cores.max": str(self.cores_per_build),
            "spark.sql.hive.manageFilesourcePartitions": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.executor.memory": "1g",
            "spark.driver.extraJavaOptions": self.java_options,
            "spark.executor.extraJavaOptions": self.java_options,
        }

    def session(self, app_name: str = "flight-delays"):
        """A driver on the cluster, with the catalog dbt builds into."""
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in {**self.spark_conf(), "spark.app.name": app_name}.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
