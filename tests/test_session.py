"""The settings every job's session gets from spark_jobs.session: the shuffle width and
broadcast size from configure, the driver's static settings from get_spark."""

from __future__ import annotations

import pytest

from spark_jobs.session import configure

KEYS = ("spark.sql.adaptive.enabled", "spark.sql.shuffle.partitions",
        "spark.sql.session.timeZone")


@pytest.mark.parametrize(("adaptive", "env", "width"), [
    ("true", None, "512"),   # adaptive execution coalesces a wide start to ~64 MiB each
    ("false", None, "8"),    # without it the width is final: small for one machine
    ("true", "3", "3"),      # the operator's choice wins
])
def test_shuffle_width_follows_adaptive_execution(spark, monkeypatch, adaptive, env, width):
    saved = {key: spark.conf.get(key) for key in KEYS}
    if env is None:
        monkeypatch.delenv("SPARK_SHUFFLE_PARTITIONS", raising=False)
    else:
        monkeypatch.setenv("SPARK_SHUFFLE_PARTITIONS", env)
    try:
        spark.conf.set("spark.sql.adaptive.enabled", adaptive)
        configure(spark)
        assert spark.conf.get("spark.sql.shuffle.partitions") == width
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)


@pytest.mark.parametrize(("env", "bytes_"), [(None, str(64 * 1024 * 1024)), ("1024", "1024")])
def test_small_join_sides_are_broadcast_up_to_64_mib(spark, monkeypatch, env, bytes_):
    """Spark's 10 MiB default would shuffle the attribution's small sides at the bench tiers."""
    key = "spark.sql.autoBroadcastJoinThreshold"
    saved = {k: spark.conf.get(k) for k in (*KEYS, key)}
    if env is None:
        monkeypatch.delenv("SPARK_BROADCAST_JOIN_BYTES", raising=False)
    else:
        monkeypatch.setenv("SPARK_BROADCAST_JOIN_BYTES", env)
    try:
        configure(spark)
        assert spark.conf.get(key) == bytes_
    finally:
        for k, value in saved.items():
            spark.conf.set(k, value)


def test_the_session_records_no_python_call_sites(spark):
    """PySpark's DataFrame debugging costs py4j round trips on every Column call of a
    classic session (hundreds per quality gate); get_spark's DRIVER_SETTINGS turn it off.
    A static setting: only the builder can set it, so the tests' session shows it."""
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"
