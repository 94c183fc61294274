"""How the platform reaches Spark: the master's URL, the lake folder, the catalog.

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

from spark.cluster import LocalSparkCluster, SparkUnavailable


@dataclass(frozen=True)
class SparkConnection:
    master: str  # spark://host:port of a standalone master (or local[N], for a quick try)
    lake_dir: Path  # the tables' Parquet: raw/<table>/ and Spark's <schema>.db/
    metastore_dir: Path  # the embedded (Derby) catalog: one driver at a time opens it

    @classmethod
    def from_env(cls, data_dir: Path) -> SparkConnection:
        """SPARK_MASTER, else the deployment's own cluster (`make spark-up`); SPARK_LAKE_DIR
        and SPARK_METASTORE_DIR, else folders under the data directory."""
        data_dir = Path(data_dir)
        master = (os.environ.get("SPARK_MASTER")
                  or LocalSparkCluster(data_dir / "spark").started_master_url())
        if not master:
            raise SparkUnavailable(f"no Spark master: `make spark-up` starts one in"
                                   f" {data_dir / 'spark'}, or set SPARK_MASTER to a cluster's")
        return cls(master=master,
                   lake_dir=Path(os.environ.get("SPARK_LAKE_DIR", data_dir / "lake")).resolve(),
                   metastore_dir=Path(os.environ.get(
                       "SPARK_METASTORE_DIR", data_dir / "spark" / "metastore")).resolve())

    def environment(self) -> dict[str, str]:
        """The variables ``from_env`` reads, set to this connection's values."""
        return {"SPARK_MASTER": self.master, "SPARK_LAKE_DIR": str(self.lake_dir),
                "SPARK_METASTORE_DIR": str(self.metastore_dir)}

    def dbt_environment(self) -> dict[str, str]:
        """What dbt's spark target reads (profiles.yml). The executors run this interpreter:
        pyspark tells them PYSPARK_PYTHON, not its spark.pyspark.python setting."""
        return {"DBT_TARGET": "spark", **self.environment(),
                "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}

    def spark_conf(self) -> dict[str, str]:
        """The driver's configuration: the same as profiles.yml's server_side_parameters."""
        derby = f"jdbc:derby:;databaseName={self.metastore_dir}/metastore_db;create=true"
        return {
            "spark.master": self.master,
            "spark.app.name": "dbt",
            "spark.sql.warehouse.dir": str(self.lake_dir),
            "spark.sql.session.timeZone": "UTC",
            "spark.hadoop.javax.jdo.option.ConnectionURL": derby,
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={self.metastore_dir}",
            "spark.sql.hive.manageFilesourcePartitions": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.executor.memory": "1g",
        }

    def session(self, app_name: str = "flight-delays"):
        """A driver on the cluster, with the catalog dbt builds into (stop it when done: the
        catalog admits one driver at a time)."""
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in {**self.spark_conf(), "spark.app.name": app_name}.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
