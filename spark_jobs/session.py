"""One way to get and configure a SparkSession, the same locally and on a cluster."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

# With adaptive execution a shuffle starts this wide and Spark coalesces it into
# partitions of about spark.sql.adaptive.advisoryPartitionSizeInBytes (64 MiB): a small
# day gets one or two, a Double-11 night enough that each partition sorts in memory
# instead of spilling. Without adaptive execution the width is final, so it stays small.
ADAPTIVE_SHUFFLE_PARTITIONS = "512"
FIXED_SHUFFLE_PARTITIONS = "8"
# A join side Spark estimates below this size is broadcast instead of shuffled (its
# default is 10 MiB). The attribution's small sides (membership intervals, the
# qualifying shares) stay below it up to millions of rows, and a broadcast spares the
# shuffle of the large side; the orders of a large campaign stay above it and are
# shuffled.
BROADCAST_JOIN_BYTES = str(64 * 1024 * 1024)
# HotSpot leaves methods over 8,000 bytes of bytecode to the interpreter. Whole-stage
# code generation writes one method for all the expressions of a stage, and the
# ingest's parse (the contract's checks of every field) makes one far over that:
# compiled, the parse takes about a third less time
# (benchmarks/results/ingest_at_scale.json).
# The contract admits JSON nested 999 levels deep (grouprebate.contract.MAX_JSON_DEPTH),
# and Spark's VARIANT code walks such a value recursively, a few frames per level: before
# the JIT compiles that code, objects nested that deep overflow the JVM's default 1 MiB
# thread stack, and a task whose stack overflows takes the whole JVM down (2 MiB holds
# them; tests/test_hostile_input.py runs the worst case).
THREAD_STACK = "-Xss4m"
JVM_OPTIONS = f"-XX:-DontCompileHugeMethods {THREAD_STACK}"
# PySpark records the Python call site of every DataFrame and Column call, for error
# messages: in a classic session that is several py4j round trips per call, and a quality
# gate builds hundreds of columns a date (benchmarks/results/quality_gates_scale.json).
# Static settings: they take effect where a driver starts.
DRIVER_SETTINGS = {"spark.python.sql.dataFrameDebugging.enabled": "false"}


def configure(spark: SparkSession) -> SparkSession:
    """Session settings every job relies on, applied to any session (local or Connect).

    Times are UTC inside Spark and stored as UTC-adjusted micros (DuckDB and
    Postgres read them as timestamptz); business dates are derived explicitly
    in the campaign timezone. Shuffle partitions: $SPARK_SHUFFLE_PARTITIONS, else sized
    by adaptive execution when it is on, else a width fit for one machine. Broadcast
    joins: sides up to $SPARK_BROADCAST_JOIN_BYTES, else BROADCAST_JOIN_BYTES.
    """
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    adaptive = spark.conf.get("spark.sql.adaptive.enabled", "true") == "true"
    width = ADAPTIVE_SHUFFLE_PARTITIONS if adaptive else FIXED_SHUFFLE_PARTITIONS
    spark.conf.set("spark.sql.shuffle.partitions",
                   os.environ.get("SPARK_SHUFFLE_PARTITIONS", width))
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold",
                   os.environ.get("SPARK_BROADCAST_JOIN_BYTES", BROADCAST_JOIN_BYTES))
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
            .config("spark.driver.extraJavaOptions", JVM_OPTIONS)
            .config(map=DRIVER_SETTINGS)
        )
    return configure(builder.getOrCreate())
