"""One way to get and configure a SparkSession, the same locally and on a cluster."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession


def configure(spark: SparkSession) -> SparkSession:
    """Session settings every job relies on, applied to any session (local or Connect).

    Times are UTC inside Spark and stored as UTC-adjusted micros (DuckDB and
    Postgres read them as timestamptz); business dates are derived explicitly
    in the campaign timezone. Shuffle partitions default to a size fit for one
    machine, not Spark's 200.
    """
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    spark.conf.set(
        "spark.sql.shuffle.partitions", os.environ.get("SPARK_SHUFFLE_PARTITIONS", "8")
    )
    return spark


def get_spark(app_name: str) -> SparkSession:
    """A session on $SPARK_REMOTE (Spark Connect) or $SPARK_MASTER (default local[*])."""
    builder = SparkSession.builder.appName(app_name)
    remote = os.environ.get("SPARK_REMOTE")
    if remote:
        builder = builder.remote(remote)
    else:
        builder = (
            builder.master(os.environ.get("SPARK_MASTER", "local[*]"))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        )
    return configure(builder.getOrCreate())
