"""Ingest one landing date ds: contract checks, dedup, quarantine, and the lake partition.

    spark-submit spark_jobs/ingest_landing.py --landing DIR --lake DIR --config FILE --ds DATE

The per-source report (rows, bad rows, their rate) is what the landing quality gate
(expectations/landing.py) checks against quality.max_bad_row_rate; this job only counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from grouprebate.config import CampaignConfig
from grouprebate.contract import (
    SOURCES,
    Source,
    bad_row_rate,
    ds_deadline,
    passes_bad_row_gate,
    reason_conflict,
)
from grouprebate.landing import (
    LandedFile,
    LandingError,
    checked_file,
    landed_files,
    landing_changes,
    read_chunks,
    split_lines,
    stray_files,
)
from spark_jobs.contract_columns import (
    extra_fields,
    line_reason,
    lines_checked,
    record_schema,
    typed_value,
    with_field_values,
)
from spark_jobs.job_cli import run_job
from spark_jobs.lake import (
    STAGING,
    materialized,
    overwrite_partitions,
    partition_path,
    read_partitions,
    table_exists,
)

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("file", T.StringType()),
        T.StructField("line", T.LongType()),
        T.StructField("reason", T.StringType()),
        T.StructField("raw", T.StringType()),
    ]
)
STRAY_SCHEMA = T.StructType([
    T.StructField("path", T.StringType()),
    T.StructField("reason", T.StringType()),
    T.StructField("source", T.StringType()),  # the top-level landing folder it sits in
    T.StructField("file", T.StringType()),  # its name
])
INGESTED_FILES_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()),
    T.StructField("file", T.StringType()),
    T.StructField("size_bytes", T.LongType()),
    T.StructField("mtime_ns", T.LongType()),
])
LANDING_CHANGES_SCHEMA = T.StructType([
    T.StructField("arrival_ds", T.DateType()),
    T.StructField("source", T.StringType()),
    T.StructField("file", T.StringType()),
    T.StructField("change", T.StringType()),
])
INGESTED_FILES = "ingested_files"
LANDING_CHANGES = "landing_changes"
log = logging.getLogger(__name__)
REPORT_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("rows", T.LongType()),
        T.StructField("ingested", T.LongType()),
        T.StructField("duplicates", T.LongType()),
        T.StructField("bad", T.LongType()),
        T.StructField("extra_fields", T.LongType()),
        T.StructField("bad_rate", T.DoubleType()),
        T.StructField("max_bad_row_rate", T.DoubleType()),
        T.StructField("passed", T.BooleanType()),
    ]
)


@dataclass(frozen=True)
class SourceCounts:
    source: str
    rows: int
    ingested: int
    duplicates: int
    bad: int
    extra_fields: int

    @property
    def bad_rate(self) -> float:
        return bad_row_rate(self.bad, self.rows)

    def passes(self, max_bad_row_rate: float) -> bool:
        return passes_bad_row_gate(self.bad, self.rows, max_bad_row_rate)


# A landing file up to this size once decompressed is read whole, as one row, and cut
# into lines; larger ones are read line by line, one line in memory at a time. Whole
# reads spare a small file the shuffle that numbers lines, but one task cuts the whole
# file with regular expressions: above a few MiB the line reader's parallel splits and
# shuffle cost less (benchmarks/results/ingest_at_scale.json), and the task holds only
# a few copies of a small file.
WHOLE_FILE_MAX_BYTES = 4 * 1024 * 1024
# Hadoop's line reader ends a line at LF, CR or CR LF; so do whole-file reads.
LINE_END = "\r\n|\r|\n"
# One character per byte: whole files are cut into lines without decoding them, so a
# line that is not UTF-8 keeps its bytes (as Hadoop's line reader keeps them).
BYTES_AS_TEXT = "ISO-8859-1"
# A day's repeated keys are broadcast to its rows up to this many; more (a whole earlier
# day delivered again, say) are joined by a shuffle, which bounds the broadcast's memory.
BROADCAST_REPEATS = 1_000_000
# Hadoop's line reader holds at most this many bytes of a line and skips longer lines
# (Hadoop's own setting, passed through the read's options).
HADOOP_MAX_LINE = "mapreduce.input.linerecordreader.line.maxlength"


def read_lines(spark: SparkSession, source: str, sizes: dict[str, int],
               names: Mapping[str, str], max_line_bytes: int) -> DataFrame:
    """Every line of one source's files of the day with its file name and 1-based line number.

    One scan per source, so each source's parse touches only its own files (a
    shared scan filtered per source would read every file once per source).
    Files up to WHOLE_FILE_MAX_BYTES (decompressed, from `sizes`) are read whole and
    numbered as they are cut into lines, with no shuffle; larger ones are read line by
    line (see numbered_lines). gzip is decompressed by the reader either way. `names`
    gives the landing name of each cut copy (see cut_copy) read in a file's place.
    """
    whole = [path for path, size in sizes.items() if size <= WHOLE_FILE_MAX_BYTES]
    large = [path for path, size in sizes.items() if size > WHOLE_FILE_MAX_BYTES]
    frames = [*([whole_file_lines(spark, whole)] if whole else []),
              *([numbered_lines(spark, large, max_line_bytes)] if large else [])]
    lines = reduce(DataFrame.unionByName, frames)
    if names:
        lines = lines.replace(dict(names), subset=["file"])
    return lines.select(F.lit(source).alias("source"), "value", "file", "line")


def whole_file_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """(value, file, line) of small files: each file one row, split at its line ends.

    Numbering lines by a window per file costs a shuffle per source; for a day of
    small files that shuffle was a sixth of the ingest's time. An empty file has no
    line; a final line end does not start another line (as in Hadoop's reader).
    """
    content = F.decode(F.col("value").cast("binary"), BYTES_AS_TEXT)
    lines = F.when(F.col("content") == "", F.array().cast("array<string>")).otherwise(
        F.split(F.regexp_replace("content", f"({LINE_END})\\z", ""), LINE_END))
    return (
        spark.read.text(paths, wholetext=True)
        .select(content.alias("content"), F.col("_metadata.file_name").alias("file"))
        .select("file", F.posexplode(lines).alias("index", "text"))
        .select(F.encode("text", BYTES_AS_TEXT).cast("string").alias("value"), "file",
                (F.col("index") + 1).cast("long").alias("line"))
    )


def numbered_lines(spark: SparkSession, paths: list[str], max_line_bytes: int) -> DataFrame:
    """(value, file, line) of large files, read line by line as Spark splits them.

    Spark may split a large plain-text file into several tasks, so the line number
    is the row's rank within its file, ordered by the split's byte offset and then
    by the row's position inside the task. Hadoop's reader skips a line whose bytes
    with its line end reach its limit; every line here stays under it (a cut copy's
    line: max_line_bytes + 1 and LF; a checked file's: max_line_bytes and CR LF), so
    the limit bounds memory only, should a file change after it was checked.
    """
    in_file = Window.partitionBy("file").orderBy("block_start", "position")
    return (
        spark.read.option(HADOOP_MAX_LINE, max_line_bytes + 3).text(paths)
        .select(
            F.col("value"),
            F.col("_metadata.file_name").alias("file"),
            F.col("_metadata.file_block_start").alias("block_start"),
            F.monotonically_increasing_id().alias("position"),
        )
        .select("value", "file", F.row_number().over(in_file).cast("long").alias("line"))
    )


def cut_copy(path: Path, copy: Path, config: CampaignConfig) -> Path:
    """A copy of a large landing file whose too-long lines keep only their first
    max_line_bytes + 1 bytes, so that Spark reads it in bounded memory (Hadoop's line
    reader holds a whole line). One line in, one line out: line numbers hold."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    with open(copy, "wb") as out:
        out.writelines(line + b"\n" for line, _ in split_lines(
            read_chunks(path, config.max_file_bytes), config.max_line_bytes))
    return copy


def key_string(source: Source) -> Column:
    """A source's dedup key as one comparable string (timestamps as UTC text)."""
    return F.concat_ws("\u0001", *[F.col(k).cast("string") for k in source.key])


def parse_lines(lines: DataFrame, source: Source, deadline: dt.datetime,
                max_line_bytes: int) -> DataFrame:
    """One source's non-blank lines with reason (null when valid), typed fields, key,
    content hash and whether the line carried fields beyond the contract's."""
    checked = with_field_values(lines_checked(lines, max_line_bytes), source).withColumn(
        "reason", line_reason(source, deadline))
    typed = checked.select(
        "source", "value", "file", "line", "reason", extra_fields(source).alias("extra_fields"),
        *[typed_value(f).alias(f.name) for f in source.fields],
    )
    content = F.to_json(F.struct(*[F.col(n) for n in source.field_names]))
    valid = F.col("reason").isNull()
    return typed.select(
        "*",
        F.when(valid, key_string(source)).alias("key"),
        F.when(valid, F.sha2(content, 256)).alias("row_hash"),
        F.lit(reason_conflict(source.key)).alias("conflict_reason"),
    )


def classify_arrivals(parsed: DataFrame, earlier: DataFrame, most_rows: int) -> DataFrame:
    """Mark each row invalid, new, duplicate or conflict (against the key's first arrival).

    The first arrival is the earliest ds, then file name, then line; `earlier`
    holds (source, key, row_hash, ds, file, line) of rows ingested on previous days. A key
    is there once unless a re-run of an earlier date read a late file that delivered it
    again; the earliest of its rows is then the reference, on every later date.

    Only a key delivered twice that day, or on an earlier day too, needs a reference, and
    on a normal day such keys are few. One aggregation over the rows of the candidate keys
    (the day's and the history's) finds each repeated key's first arrival and its
    reference, and the day's rows meet them in a broadcast join: the day's rows
    themselves, raw lines included, are never shuffled. `most_rows` bounds the day's rows
    (its bytes over the shortest valid line). Up to BROADCAST_REPEATS, the day's keys are
    the candidates, broadcast to the history's scan, all in one query. On a larger day
    the repeated keys are first found by an aggregation over the keys alone and counted;
    past BROADCAST_REPEATS (a whole earlier day delivered again) they are joined by a
    shuffle, which bounds the broadcast's memory.
    """
    keyed = parsed.where(F.col("key").isNotNull())
    today = keyed.select("source", "key", F.lit(1).alias("today"))
    history = earlier.select("source", "key", F.lit(0).alias("today"), "ds", "file", "line",
                             "row_hash")
    if most_rows <= BROADCAST_REPEATS:
        few = True
        history = history.join(F.broadcast(today.select("source", "key")),
                               ["source", "key"], "left_semi")
    else:
        repeated = materialized(today.unionByName(history.select(*today.columns)).groupBy(
            "source", "key").agg(F.max("today").alias("today"), F.count(F.lit(1)).alias("seen"))
            .where((F.col("today") == 1) & (F.col("seen") > 1)).select("source", "key"))
        few = repeated.count() <= BROADCAST_REPEATS
        repeated = F.broadcast(repeated) if few else repeated
        keyed, history = (frame.join(repeated, ["source", "key"], "left_semi")
                          for frame in (keyed, history))
    arrivals = keyed.select("source", "key", F.lit(1).alias("today"),
                            F.lit(None).cast("date").alias("ds"), "file", "line", "row_hash")
    order = F.struct("today", "ds", "file", "line")  # the history first, then the day
    references = arrivals.unionByName(history).groupBy("source", "key").agg(
        F.count(F.lit(1)).alias("arrivals"), F.min(order).alias("first_at"),
        F.min_by("row_hash", order).alias("reference")).where(F.col("arrivals") > 1)
    joined = parsed.join(F.broadcast(references) if few else references,
                         ["source", "key"], "left")
    first = F.col("first_at")
    is_first = ((first["today"] == 1) & (first["file"] == F.col("file"))
                & (first["line"] == F.col("line")))
    return joined.withColumn(
        "arrival_kind",
        F.when(F.col("reason").isNotNull(), "invalid")
        .when(first.isNull() | is_first, "new")
        .when(F.col("row_hash") == F.col("reference"), "duplicate")
        .otherwise("conflict"),
    ).drop("arrivals", "first_at", "reference")


def quarantine_rows(classified: DataFrame) -> DataFrame:
    """Bad lines and conflicting re-deliveries, in the quarantine table's shape."""
    reason = F.when(F.col("arrival_kind") == "conflict", F.col("conflict_reason")).otherwise(
        F.col("reason")
    )
    return classified.where(F.col("arrival_kind").isin("invalid", "conflict")).select(
        "source", "file", "line", reason.alias("reason"), F.col("value").alias("raw")
    )


def count_arrivals(classified: DataFrame) -> list[SourceCounts]:
    """Per-source counts of the day, in one pass."""
    kinds: dict[str, dict[str, int]] = {}
    extra: dict[str, int] = {}
    counted = classified.groupBy("source", "arrival_kind").agg(
        F.count(F.lit(1)).alias("count"), F.sum(F.col("extra_fields").cast("long")).alias("extra"))
    for row in counted.collect():
        kinds.setdefault(row["source"], {})[row["arrival_kind"]] = row["count"]
        extra[row["source"]] = extra.get(row["source"], 0) + row["extra"]
    return [
        SourceCounts(
            source=name,
            rows=sum(k.values()),
            ingested=k.get("new", 0),
            duplicates=k.get("duplicate", 0),
            bad=k.get("invalid", 0) + k.get("conflict", 0),
            extra_fields=extra[name],
        )
        for name, k in sorted(kinds.items())
    ]


def report_frame(spark: SparkSession, counts: list[SourceCounts], limit: float) -> DataFrame:
    rows = [
        (c.source, c.rows, c.ingested, c.duplicates, c.bad, c.extra_fields, c.bad_rate, limit,
         c.passes(limit))
        for c in counts
    ]
    return spark.createDataFrame(rows, REPORT_SCHEMA)


def lake_schema(source: Source) -> T.StructType:
    """A lake table: the typed contract fields, the content hash and where the row came from."""
    return T.StructType([
        *record_schema(source).fields,
        T.StructField("row_hash", T.StringType()),
        T.StructField("file", T.StringType()),
        T.StructField("line", T.LongType()),
    ])


def earlier_keys(spark: SparkSession, lake: str, ds: dt.date, sources: list[str]) -> DataFrame:
    """(source, key, row_hash, ds, file, line) of every row of these sources ingested
    before ds."""
    frames = [
        read_partitions(spark, lake, name, lake_schema(SOURCES[name]), ds, before=True).select(
            F.lit(name).alias("source"), key_string(SOURCES[name]).alias("key"), "row_hash",
            "ds", "file", "line",
        )
        for name in sources
    ]
    return reduce(DataFrame.unionByName, frames)


def changes_since_ingest(spark: SparkSession, landing: Path, lake: str,
                         ds: dt.date) -> list[tuple[dt.date, str, str, str]]:
    """(arrival_ds, source, file, change) of every earlier partition whose landing folder no
    longer holds what its ingest read (ingested_files), so a late file is never unseen.

    Only partitions with an ingested_files partition are compared: their ingest recorded
    what it read, even when that was nothing. Pure listing and stat calls, one Spark read.
    """
    days = sorted(
        day for folder in (Path(lake, INGESTED_FILES).glob("ds=*")
                           if table_exists(lake, INGESTED_FILES) else [])
        if (day := dt.date.fromisoformat(folder.name[3:])) < ds)
    if not days:
        return []
    recorded: dict[dt.date, list[LandedFile]] = {day: [] for day in days}
    for row in read_partitions(spark, lake, INGESTED_FILES, INGESTED_FILES_SCHEMA, ds,
                               before=True).collect():
        recorded[row["ds"]].append(LandedFile(row["source"], row["file"], row["size_bytes"],
                                              row["mtime_ns"]))
    return [(day, *change) for day in days
            for change in landing_changes(recorded[day], landed_files(landing, day))]


def stray_rows(landing: Path, ds: dt.date) -> list[tuple[str, str, str, str]]:
    """(path, reason, source folder, name) of what sits in the ds folders but is not data."""
    return [(str(path), why, path.relative_to(landing).parts[0], path.name)
            for path, why in stray_files(landing, ds)]


def ingest(
    spark: SparkSession, landing: str, lake: str, config: CampaignConfig, ds: dt.date
) -> list[SourceCounts]:
    """Run the whole day: every source gets a lake partition for ds, empty when nothing
    arrived, beside the day's quarantine, report, stray files, the files it read
    (ingested_files) and the files of earlier days that changed since their ingest
    (landing_changes).

    Every file is first checked to its end (LandingFileError names the first that
    cannot be read or is too large) so that Spark never meets a broken gzip stream.
    The files are listed with their size and mtime before they are read: a file that
    changes while it is read shows as changed on the next run.
    """
    read = landed_files(Path(landing), ds)
    copies = Path(lake, STAGING, f"landing-{ds.isoformat()}-{uuid.uuid4().hex}")
    for leftover in Path(lake, STAGING).glob(f"landing-{ds.isoformat()}-*"):
        shutil.rmtree(leftover)  # of a killed ingest of ds
    files: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}  # a cut copy's name -> the landing file's
    try:
        for f in read:
            path = Path(landing, f.source, f"ds={ds.isoformat()}", f.file)
            check = checked_file(path, config.max_file_bytes, config.max_line_bytes,
                                 WHOLE_FILE_MAX_BYTES)
            if check.size > WHOLE_FILE_MAX_BYTES and check.long_line:
                # plain text, named so that no landing file (<name>.jsonl[.gz]) shares it
                path = cut_copy(path, copies / f"{f.file}.{len(names)}.cut", config)
                names[path.name] = f.file
            files.setdefault(f.source, {})[str(path)] = check.size
        deadline = ds_deadline(ds, config.tz)
        counts: list[SourceCounts] = []
        if files:
            parsed = materialized(reduce(
                lambda a, b: a.unionByName(b, allowMissingColumns=True),
                [parse_lines(read_lines(spark, name, sizes, names, config.max_line_bytes),
                             SOURCES[name], deadline, config.max_line_bytes)
                 for name, sizes in files.items()],
            ))
            earlier = earlier_keys(spark, lake, ds, list(files))
            most_rows = sum(size // SOURCES[name].shortest_line_bytes
                            for name, sizes in files.items() for size in sizes.values())
            classified = materialized(classify_arrivals(parsed, earlier, most_rows))
            counts = count_arrivals(classified)
            quarantine = quarantine_rows(classified)
        else:
            quarantine = spark.createDataFrame([], QUARANTINE_SCHEMA)
    finally:
        shutil.rmtree(copies, ignore_errors=True)  # read into the checkpoint, or failed
    report = report_frame(spark, counts, config.max_bad_row_rate)
    strays = spark.createDataFrame(stray_rows(Path(landing), ds), STRAY_SCHEMA)
    late = changes_since_ingest(spark, Path(landing), lake, ds)
    for arrival_ds, source, name, change in late:
        log.warning("ds=%s %s/%s %s: re-run ds=%s to read it", arrival_ds, source, name,
                    change, arrival_ds)
    changes = spark.createDataFrame(late, LANDING_CHANGES_SCHEMA)
    ingested = spark.createDataFrame(
        [(f.source, f.file, f.size_bytes, f.mtime_ns) for f in read], INGESTED_FILES_SCHEMA)
    overwrite_partitions({"quarantine": quarantine, "ingest_report": report,
                          "stray_files": strays, LANDING_CHANGES: changes}, lake, ds)
    new_rows = {}
    for name, source in SOURCES.items():
        if name in files:
            new_rows[name] = classified.where(
                (F.col("source") == name) & (F.col("arrival_kind") == "new")
            ).select(*lake_schema(source).fieldNames())
        else:
            new_rows[name] = spark.createDataFrame([], lake_schema(source))
    overwrite_partitions(new_rows, lake, ds)
    # Last: the record that ds was read is written only once its rows are in the lake.
    overwrite_partitions({INGESTED_FILES: ingested}, lake, ds)
    return counts


def main(argv: list[str] | None = None) -> int:
    def body(spark, args, config) -> str:
        counts = ingest(spark, args.landing, args.lake, config, args.ds)
        strays = stray_files(Path(args.landing), args.ds)
        late = spark.read.parquet(partition_path(args.lake, LANDING_CHANGES, args.ds))
        return "\n".join(
            [f"{c.source:12} rows={c.rows} ingested={c.ingested} duplicates={c.duplicates} "
             f"bad={c.bad} ({c.bad_rate:.2%}) extra_fields={c.extra_fields}" for c in counts]
            + [f"stray        {path}: {why} (not read)" for path, why in strays]
            + [f"late file    ds={r.arrival_ds} {r.source}/{r.file}: {r.change} "
               f"(re-run ds={r.arrival_ds} to read it)"
               for r in late.orderBy("arrival_ds", "source", "file").collect()])

    return run_job(__doc__, argv, body, (LandingError,), needs_landing=True)


if __name__ == "__main__":
    sys.exit(main())
