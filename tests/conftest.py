"""Shared fixtures: one local Spark session per test session, the 2018 config, and another
campaign's (another year and timezone, across the end of daylight saving time).

Hypothesis explores new examples on a laptop (the default profile, its database in the
git-ignored .hypothesis/) and replays the same ones in CI (CI=true: the "ci" profile).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from grouprebate.config import CampaignConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / "config" / "xhq-2018.yaml"
TEST_ENV = {"GROUPREBATE_DRAW_SEED": "test-seed", "GROUPREBATE_PSEUDONYM_KEY": "test-key"}
# Another year's campaign in another timezone: New York, where daylight saving time ends
# inside the accumulation window (2019-11-03 has 25 hours), with other group sizes, cap,
# claim window and winner count.
ANOTHER_CAMPAIGN = {
    "campaign_id": "xhq-2019", "timezone": "America/New_York", "calendar_start": "2019-10-19",
    "accumulation_start": "2019-11-01T00:00:00-04:00",
    "accumulation_end": "2019-11-12T00:00:00-05:00",
    "draw_open": "2019-11-12T16:00:00-05:00", "claim_window_hours": 72,
    "payout_sla_hours": 24, "publish_date": "2019-11-13", "min_client_version": "9.2.1",
    "group_min_members": 3, "group_max_members": 10, "creator_gender": "F",
    "creator_min_naughty_value": 500, "red_packet_cap_fen": 3000000,
    "draw": {"winner_count": 10, "seed_env": "S"}, "publish": {"pseudonym_key_env": "K"},
}
# The short campaign's seed (tests/fixtures/short-campaign.yaml names this variable), for
# the tests that load it and the `grouprebate run` processes they start.
os.environ.setdefault("GROUPREBATE_E2E_DRAW_SEED", "e2e-test-seed")

# Py4J's connection finalizers log whenever the garbage collector runs them, mid-run or at
# interpreter exit, to streams that pytest (and Airflow's logging) may have closed by then:
# a "Logging error" traceback in the test output. Any test that touches Spark can leave one.
logging.getLogger("py4j").setLevel(logging.CRITICAL)

# CI: the same examples on every run (a red build is about the change, not a new draw),
# no example database, and a failure prints the example's blob for @reproduce_failure.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(
    "ci" if os.environ.get("CI", "").lower() not in ("", "0", "false") else "default")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test that asks for the local Spark session starts a server (the Spark JVM, then
    a Spark job per query): it is marked spark and e2e before -m selects, so the fast loop
    (-m 'not e2e') leaves it out and -m spark runs those tests alone.

    Bench tests run only when a -m expression names them (`make bench`: -m bench).
    addopts' `-m 'not bench'` keeps them out of `make test`, but any -m on the command
    line replaces it: without this, the fast loop's `-m 'not e2e'` would run them.
    """
    for item in items:
        if "spark" in item.fixturenames:
            item.add_marker(pytest.mark.spark)
            item.add_marker(pytest.mark.e2e)
    if "bench" in (config.option.markexpr or ""):
        return
    bench = [item for item in items if item.get_closest_marker("bench")]
    if bench:
        config.hook.pytest_deselected(items=bench)
        items[:] = [item for item in items if not item.get_closest_marker("bench")]


@pytest.fixture(scope="session")
def config() -> CampaignConfig:
    return load_config(CONFIG_PATH, env=TEST_ENV)


@pytest.fixture(scope="session")
def another_config() -> CampaignConfig:
    """ANOTHER_CAMPAIGN's config."""
    return parse_config(ANOTHER_CAMPAIGN, env={"S": "s"})


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


@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> dict:
    """The short campaign run end to end once per session (tests/e2e_campaign.py)."""
    from tests.e2e_campaign import run_short_campaign

    return run_short_campaign(tmp_path_factory.mktemp("e2e"))
