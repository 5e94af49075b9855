"""A lake write commits whole or not at all: what a crash leaves, and how it is cleared.

A kill is simulated by raising `Killed`, a BaseException like the KeyboardInterrupt a
signal raises: the writer's `except Exception` cleanup does not run, so the lake is left
as a killed process would leave it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_jobs import lake
from spark_jobs.lake import overwrite_partition, read_partitions

DS = dt.date(2018, 11, 5)
OTHER = DS - dt.timedelta(days=1)
SCHEMA = T.StructType([T.StructField("id", T.LongType())])


class Killed(BaseException):
    """The process dies here."""


def ids(spark, root: Path, through: dt.date = DS) -> list[tuple[dt.date, int]]:
    """What the Spark jobs read (every partition up to `through`)."""
    rows = read_partitions(spark, root, "numbers", SCHEMA, through).collect()
    return sorted((r.ds, r.id) for r in rows)


def duckdb_ids(root: Path) -> list[tuple[dt.date, int]]:
    """What dbt reads: the one-level glob of dbt/models/staging/_lake__sources.yml."""
    pattern = f"{root}/numbers/*/*.parquet"
    rows = duckdb.sql(f"select ds, id from read_parquet('{pattern}', hive_partitioning = true)")
    return sorted((dt.date.fromisoformat(str(ds)), i) for ds, i in rows.fetchall())


def leftovers(root: Path) -> list[str]:
    """The hidden folders' contents (docs/pipeline.md names them), as folder/entry."""
    return sorted(p.relative_to(root / "numbers").as_posix()
                  for folder in ("_staging", "_trash")
                  for p in (root / "numbers" / folder).glob("*"))


def folders(paths: list[str]) -> list[str]:
    return [p.split("/")[0] for p in paths]


@pytest.fixture
def old_lake(spark, tmp_path) -> Path:
    """A table with a complete partition for DS (ids 0-2) and one for the day before."""
    overwrite_partition(spark.range(3), tmp_path, "numbers", DS)
    overwrite_partition(spark.range(7, 8), tmp_path, "numbers", OTHER)
    return tmp_path


OLD = [(OTHER, 7), (DS, 0), (DS, 1), (DS, 2)]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_write_replaces_its_partition_and_leaves_nothing_behind(
        spark, old_lake, monkeypatch, exchange):
    """Both commits (one atomic exchange where Linux offers it, two renames elsewhere)
    replace the partition and leave no staging or trash."""
    used = []
    real = lake._exchange

    def spy(a, b):
        used.append(exchange and real(a, b))
        return used[-1]

    monkeypatch.setattr(lake, "_exchange", spy)
    overwrite_partition(spark.range(10, 12), old_lake, "numbers", DS)
    assert ids(spark, old_lake) == [(OTHER, 7), (DS, 10), (DS, 11)]
    assert leftovers(old_lake) == []
    assert used == [exchange]


def test_a_failed_write_leaves_the_old_partition_whole(spark, old_lake):
    """A Spark job that fails after writing part of its rows commits nothing."""
    failing = spark.range(0, 50).select(
        F.when(F.col("id") < 40, F.col("id")).otherwise(F.raise_error(F.lit("bad row")))
        .alias("id"))
    with pytest.raises(PySparkException, match="bad row"):
        overwrite_partition(failing, old_lake, "numbers", DS)
    assert ids(spark, old_lake) == OLD
    assert leftovers(old_lake) == []


def test_a_write_killed_midway_leaves_readers_the_old_partition(spark, old_lake, monkeypatch):
    """Killed while Spark writes: the first files of the new partition exist, but only in
    staging, which Spark, dbt and the next write all ignore, and the next write clears."""
    new = spark.range(100, 110)
    writer = type(new.write)
    real = writer.parquet

    def dies_after_some_files(self, path, *args, **kwargs):
        real(spark.range(100, 103).coalesce(1).write.mode("overwrite"), path)
        raise Killed

    monkeypatch.setattr(writer, "parquet", dies_after_some_files)
    with pytest.raises(Killed):
        overwrite_partition(new, old_lake, "numbers", DS)
    monkeypatch.undo()
    assert ids(spark, old_lake) == OLD
    assert duckdb_ids(old_lake) == OLD
    assert folders(leftovers(old_lake)) == ["_staging"]

    overwrite_partition(new, old_lake, "numbers", DS)
    assert ids(spark, old_lake) == [(OTHER, 7)] + [(DS, i) for i in range(100, 110)]
    assert leftovers(old_lake) == []


def test_a_commit_killed_between_its_two_renames_leaves_no_partial_partition(
        spark, old_lake, monkeypatch):
    """Where no atomic exchange exists the partition is absent for one rename: a kill
    there leaves it missing (the day reads as no rows, never as some), and the next
    write of the day clears the trash and the staging and commits whole."""
    monkeypatch.setattr(lake, "_exchange", lambda a, b: False)
    real = Path.rename
    renames = []

    def second_rename_dies(self, target):
        renames.append(self)
        if len(renames) == 2:
            raise Killed
        return real(self, target)

    monkeypatch.setattr(Path, "rename", second_rename_dies)
    with pytest.raises(Killed):
        overwrite_partition(spark.range(10, 12), old_lake, "numbers", DS)
    monkeypatch.setattr(Path, "rename", real)
    assert not (old_lake / "numbers" / f"ds={DS}").exists()
    assert ids(spark, old_lake) == [(OTHER, 7)]
    assert duckdb_ids(old_lake) == [(OTHER, 7)]
    assert folders(leftovers(old_lake)) == ["_staging", "_trash"]

    overwrite_partition(spark.range(20, 22), old_lake, "numbers", DS)
    assert ids(spark, old_lake) == [(OTHER, 7), (DS, 20), (DS, 21)]
    assert leftovers(old_lake) == []


def test_a_commit_whose_rename_fails_puts_the_old_partition_back(spark, old_lake, monkeypatch):
    """An error (not a kill) in the second rename restores the old partition and raises."""
    monkeypatch.setattr(lake, "_exchange", lambda a, b: False)
    real = Path.rename

    def staged_rename_fails(self, target):
        if "_staging" in self.parts:
            raise OSError("disk said no")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", staged_rename_fails)
    with pytest.raises(OSError, match="disk said no"):
        overwrite_partition(spark.range(10, 12), old_lake, "numbers", DS)
    monkeypatch.setattr(Path, "rename", real)
    assert ids(spark, old_lake) == OLD
    assert leftovers(old_lake) == []


def test_a_leftover_of_another_day_is_not_touched(spark, old_lake):
    """A write clears only its own day's leftovers: another day's staging may be a write
    that is still running."""
    running = old_lake / "numbers" / "_staging" / f"{OTHER}-running"
    running.mkdir(parents=True)
    overwrite_partition(spark.range(4), old_lake, "numbers", DS)
    assert running.is_dir()
