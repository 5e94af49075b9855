"""Where the jobs keep their tables, and how they read and overwrite one ds partition.

Layout under the lake root (all Parquet, partitioned by the run/arrival date ds):
    <source>/ds=...                ingested, deduplicated landing rows (users, orders, ...)
    quarantine/ds=...              bad rows with their reasons
    ingest_report/ds=...           per-source counts of one ingest run
    stray_files/ds=...             what sits in the landing's ds folders but is not data
    ingested_files/ds=...          the landing files the ingest of ds read (size, mtime)
    landing_changes/ds=...         files of earlier dates changed since their ingest
    attribution/<table>/ds=...     the attribution job's tables as of ds; the
                                   partition of the draw date is the frozen snapshot
    <table>/_staging/, _trash/     uncommitted writes and replaced partitions (see commit)
    _staging/landing-<ds>-*        cut copies of large landing files while ds is ingested
Every job writes every table it owns for its ds, empty when there is nothing,
so a reader never meets a missing table or partition.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import shutil
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

# Hidden folders beside a table's ds=... partitions. Spark's partition discovery skips
# names starting with "_" (without "="), and the data sits two levels down, out of reach
# of the one-level `<table>/*/*.parquet` globs dbt and the loaders read.
STAGING = "_staging"
TRASH = "_trash"
# Where Spark keeps a frame's schema in the footer of each Parquet file it writes.
SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"


def partition_path(root: str | Path, table: str, ds: dt.date) -> str:
    return f"{root}/{table}/ds={ds.isoformat()}"


def overwrite_partition(df: DataFrame, root: str | Path, table: str, ds: dt.date) -> None:
    """Replace exactly one ds partition of a table; re-running a day is therefore safe.

    Spark writes into a staging folder, and only the finished folder is renamed into the
    partition's place (commit): a crash never leaves part of a partition to be read.
    root is a local or shared POSIX path, as the commit renames in this process.

    Files are sized for the data (one file for a small day, ~advisory-size files for a
    large one) instead of one per shuffle partition, which later scans of the whole
    lake would pay for every day. With adaptive execution (Spark's default) the
    rebalance hint does that. Without it (the local run's server, docs/orchestration.md)
    the hint would be a blind round-robin shuffle into every shuffle partition, so the
    partition is coalesced into one file: a server without AQE is for small days.
    """
    adaptive = df.sparkSession.conf.get("spark.sql.adaptive.enabled") == "true"
    sized = df.hint("rebalance") if adaptive else df.coalesce(1)
    clear_leftovers(root, table, ds)
    staged = Path(root, table, STAGING, f"{ds.isoformat()}-{uuid.uuid4().hex}")
    try:
        sized.write.mode("overwrite").parquet(str(staged))  # a fresh folder: nothing to overwrite
        commit(staged, Path(partition_path(root, table, ds)))
    except Exception:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def clear_leftovers(root: str | Path, table: str, ds: dt.date) -> None:
    """Delete what a killed write of this partition left in _staging and _trash.

    Only this ds: a write of another partition of the table may be running.
    """
    for folder in (STAGING, TRASH):
        for leftover in Path(root, table, folder).glob(f"{ds.isoformat()}-*"):
            shutil.rmtree(leftover)


def commit(staged: Path, final: Path) -> None:
    """Make the staged folder the partition: one atomic exchange where Linux offers it.

    Elsewhere (another OS, a filesystem without RENAME_EXCHANGE such as NFS) the old
    partition is renamed into _trash and the staged one into its place: a crash between
    the two renames leaves the partition absent, never half-written, until the next
    write of the day.
    """
    if _exchange(staged, final):
        shutil.rmtree(staged, ignore_errors=True)  # the old files; any left, the next write clears
        return
    trash = final.parent / TRASH / staged.name
    if final.exists():
        trash.parent.mkdir(exist_ok=True)
        final.rename(trash)
    try:
        staged.rename(final)
    except OSError:
        if trash.exists():
            trash.rename(final)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _load_renameat2():
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux/glibc
        return None
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint)
    renameat2.restype = ctypes.c_int
    return renameat2


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # <fcntl.h>, <linux/fs.h>


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (renameat2); False when it cannot, and the
    caller falls back to plain renames (which raise any real error themselves)."""
    if _RENAMEAT2 is None:
        return False
    return _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                      _RENAME_EXCHANGE) == 0


def overwrite_partitions(tables: Mapping[str, DataFrame], root: str | Path, ds: dt.date) -> None:
    """Overwrite the ds partition of several tables at once, one Spark job per table.

    A small day's table is written by one or two tasks, so one write at a time
    leaves cores idle; submitted together, Spark runs the writes side by side.
    Frames that share an upstream should read it from a materialized cache or
    checkpoint, or each write computes it again.
    Raises the first write's error after every write has ended.
    """
    with ThreadPoolExecutor(max_workers=max(len(tables), 1)) as pool:
        futures = [pool.submit(overwrite_partition, df, root, table, ds)
                   for table, df in tables.items()]
    for future in futures:
        future.result()


def materialized(df: DataFrame) -> DataFrame:
    """df computed once into executor memory, behind a one-node plan.

    Queries on the result are planned against that node, not against df's whole
    lineage: a cached frame keeps its lineage, so each query on it is analysed in full
    again before the cache is found, and ingest's classified frame (every source's
    parse, unioned) is read by eleven writes. Spark releases the checkpoint when the
    frame is garbage-collected (Spark Connect: when the client drops its last reference;
    classic: Spark's context cleaner), and all of a session's when the session ends.
    """
    return df.localCheckpoint(eager=True)


def read_as_written(spark: SparkSession, folder: str | Path) -> DataFrame | None:
    """A partition's files with the column types they were written with, or None when it
    has none: what spark.read.parquet infers, without the Spark job it runs to read a
    footer. The schema is the one Spark wrote into the first file's footer; a file Spark
    did not write, or whose footer cannot be read, is left to Spark to infer (or fail on).
    """
    import json

    import pyarrow
    import pyarrow.parquet as pq

    files = sorted(Path(folder).glob("*.parquet"))
    if not files:
        return None
    try:
        written = (pq.read_schema(files[0]).metadata or {}).get(SPARK_SCHEMA_KEY)
    except (OSError, pyarrow.ArrowException):
        written = None
    if written is None:
        return spark.read.parquet(str(folder))
    return spark.read.schema(T.StructType.fromJson(json.loads(written))).parquet(str(folder))


def table_exists(root: str | Path, table: str) -> bool:
    path = Path(f"{root}/{table}")
    return path.is_dir() and any(p.name.startswith("ds=") for p in path.iterdir())


def read_partitions(
    spark: SparkSession,
    root: str | Path,
    table: str,
    schema: T.StructType,
    through: dt.date,
    before: bool = False,
) -> DataFrame:
    """Rows of partitions ds <= through (ds < through when before=True), with a ds column.

    A table no run has written yet reads as empty with its schema, so the first
    days of a campaign need no special case.
    """
    full = T.StructType([*schema.fields, T.StructField("ds", T.DateType())])
    if not table_exists(root, table):
        return spark.createDataFrame([], full)
    df = spark.read.schema(full).option("basePath", f"{root}/{table}").parquet(f"{root}/{table}")
    limit = df["ds"] < through if before else df["ds"] <= through
    return df.where(limit)
