"""The lake writer: one ds partition replaced at a time, in files sized for the data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from spark_jobs.lake import (
    materialized,
    overwrite_partition,
    overwrite_partitions,
    partition_path,
    read_as_written,
)

DS = dt.date(2018, 11, 5)


def parquet_files(root: Path, table: str) -> list[Path]:
    return sorted((root / table / f"ds={DS}").glob("*.parquet"))


@pytest.mark.parametrize("adaptive", ["true", "false"])
def test_small_partition_is_written_as_one_file_whatever_the_shuffle_width(
        spark, tmp_path, adaptive):
    """Eight shuffle partitions of a few rows would be eight files every day without
    the rebalance (adaptive execution) or the coalesce (without it, as on the local
    run's server): later scans of the whole lake (Spark and dbt) pay for each file."""
    saved = {k: spark.conf.get(k) for k in ("spark.sql.adaptive.enabled",
                                           "spark.sql.shuffle.partitions")}
    spark.conf.set("spark.sql.adaptive.enabled", adaptive)
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    try:
        df = spark.range(0, 40, numPartitions=8).withColumnRenamed("id", "n")
        overwrite_partition(df, tmp_path, "numbers", DS)
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)
    files = parquet_files(tmp_path, "numbers")
    assert len(files) == 1
    assert sorted(r.n for r in spark.read.parquet(str(files[0])).collect()) == list(range(40))


def test_overwrite_replaces_only_its_own_partition(spark, tmp_path):
    overwrite_partition(spark.range(3), tmp_path, "numbers", DS)
    overwrite_partition(spark.range(5), tmp_path, "numbers", DS + dt.timedelta(days=1))
    overwrite_partition(spark.range(2), tmp_path, "numbers", DS)
    assert spark.read.parquet(str(tmp_path / "numbers" / f"ds={DS}")).count() == 2
    assert spark.read.parquet(
        str(tmp_path / "numbers" / f"ds={DS + dt.timedelta(days=1)}")).count() == 5


def test_writes_side_by_side_all_end_and_the_failure_is_raised(spark, tmp_path):
    """A failing table must not hide behind the others: it raises, and the writes that
    can succeed are complete (a re-run of the day overwrites them anyway)."""
    tables = {
        "first": spark.range(4),
        "broken": spark.range(1).select(F.raise_error(F.lit("no such row")).alias("x")),
        "last": spark.range(6),
    }
    with pytest.raises(PySparkException, match="no such row"):
        overwrite_partitions(tables, tmp_path, DS)
    assert spark.read.parquet(str(tmp_path / "first" / f"ds={DS}")).count() == 4
    assert spark.read.parquet(str(tmp_path / "last" / f"ds={DS}")).count() == 6
    assert not parquet_files(tmp_path, "broken")


def test_a_materialized_frame_is_planned_against_its_checkpoint_not_its_lineage(spark, capsys):
    df = spark.range(0, 12).withColumn("kind", F.col("id") % 3).where(F.col("id") > 1)
    frame = materialized(df)
    frame.explain(mode="extended")
    plans = capsys.readouterr().out
    assert "Filter" not in plans.split("== Optimized Logical Plan ==")[0]
    assert frame.where(F.col("kind") == 0).count() == 3


def test_a_partition_reads_with_the_types_it_was_written_with(spark, tmp_path):
    """The gates check the lake's column types as written: read_as_written must give the
    file's own types (here an int where the lake would have a long, and a timestamp), not
    a schema of ours; a folder without files reads as None, and a file Spark did not write
    is left to Spark to infer."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import types as T

    df = spark.range(3).select(F.col("id").cast("int").alias("n"),
                               F.current_timestamp().alias("at"))
    overwrite_partition(df, tmp_path, "numbers", DS)
    written = read_as_written(spark, partition_path(tmp_path, "numbers", DS))
    assert [(f.name, type(f.dataType)) for f in written.schema.fields] == [
        ("n", T.IntegerType), ("at", T.TimestampType)]
    assert sorted(r.n for r in written.collect()) == [0, 1, 2]

    assert read_as_written(spark, tmp_path / "nothing" / f"ds={DS}") is None

    other = tmp_path / "other" / f"ds={DS}"
    other.mkdir(parents=True)
    pq.write_table(pa.table({"s": ["a", "b"]}), other / "part-0.parquet")
    inferred = read_as_written(spark, other)
    assert [(f.name, type(f.dataType)) for f in inferred.schema.fields] == [
        ("s", T.StringType)]
