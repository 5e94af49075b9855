"""Shared fixtures: one local Spark session per test session, and the 2018 config."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import pytest

from grouprebate.config import CampaignConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / "config" / "xhq-2018.yaml"
TEST_ENV = {"GROUPREBATE_DRAW_SEED": "test-seed", "GROUPREBATE_PSEUDONYM_KEY": "test-key"}


@pytest.fixture(scope="session")
def config() -> CampaignConfig:
    return load_config(CONFIG_PATH, env=TEST_ENV)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_MASTER", "local[2]")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_DRIVER_MEMORY", "2g")
    from spark_jobs.session import get_spark

    session = get_spark("grouprebate-tests")
    session.sparkContext.setLogLevel("ERROR")
    # Test frames are tiny: compiling generated code costs more than it saves.
    for key, value in {
        "spark.sql.shuffle.partitions": "1",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    }.items():
        session.conf.set(key, value)
    yield session
    session.stop()
    # Py4J's connection finalizers log at interpreter exit, to streams that pytest (and
    # Airflow's logging) have closed by then: a "Logging error" traceback after the summary.
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
