"""dbt's spark target and the Python side's Spark driver are configured alike: what dbt builds
into the lake and its catalog is what spark/connection.py reads."""

from pathlib import Path

import jinja2
import pytest
import yaml

from resources.settings import REPO_ROOT
from spark.cluster import SparkUnavailable
from spark.connection import SparkConnection


def spark_target(environment: dict[str, str]) -> dict:
    """profiles.yml's spark output, rendered as dbt renders it (env_var with its default)."""
    text = (REPO_ROOT / "dbt_project" / "profiles.yml").read_text()
    renderer = jinja2.Environment()
    renderer.filters["as_number"] = float
    rendered = renderer.from_string(text).render(
        env_var=lambda name, default=None: environment.get(name, default))
    return yaml.safe_load(rendered)["flight_delays"]["outputs"]["spark"]


def test_the_profile_and_the_driver_share_one_spark_configuration(tmp_path):
    connection = SparkConnection(master="spark://127.0.0.1:7077",
                                 metastore_uri="thrift://127.0.0.1:9083",
                                 lake_dir=tmp_path / "lake", cores_per_build=3,
                                 java_options="-XX:TieredStopAtLevel=1 -Xss4m")
    target = spark_target(connection.dbt_environment())
    assert target["method"] == "session"
    assert {key: str(value) for key, value in target["server_side_parameters"].items()} == (
        connection.spark_conf())
    assert connection.spark_conf()["spark.executor.extraJavaOptions"] == (
        "-XX:TieredStopAtLevel=1 -Xss4m")


def test_the_deployments_settings_default_under_its_data_folder(tmp_path, monkeypatch):
    for name in ("SPARK_MASTER", "SPARK_METASTORE_URI", "SPARK_LAKE_DIR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SparkUnavailable, match="make spark-up"):
        SparkConnection.from_env(tmp_path)  # no cluster started, none named

    (tmp_path / "spark").mkdir()
    (tmp_path / "spark" / "master.port").write_text("41225")  # as `make spark-up` leaves it
    with pytest.raises(SparkUnavailable, match="no Spark metastore"):
        SparkConnection.from_env(tmp_path)
    (tmp_path / "spark" / "metastore.port").write_text("41226")
    connection = SparkConnection.from_env(tmp_path)
    assert connection.master == "spark://127.0.0.1:41225"
    assert connection.metastore_uri == "thrift://127.0.0.1:41226"
    assert connection.lake_dir == tmp_path / "lake"
    monkeypatch.setenv("SPARK_MASTER", "spark://spark-master.example:7077")
    assert SparkConnection.from_env(tmp_path).master == "spark://spark-master.example:7077"
    assert Path(connection.dbt_environment()["SPARK_LAKE_DIR"]) == tmp_path / "lake"
