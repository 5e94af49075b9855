"""Ingest one landing date ds: contract checks, dedup, quarantine, and the lake partition.

    spark-submit spark_jobs/ingest_landing.py --landing DIR --lake DIR --config FILE --ds DATE

A source whose bad-row rate for the day exceeds quality.max_bad_row_rate fails
the run before its lake partition is written; the quarantine and the report
are still written so the failure can be diagnosed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from grouprebate.config import CampaignConfig, ConfigError, load_config
from grouprebate.contract import SOURCES, Source, ds_deadline, reason_conflict
from grouprebate.landing import FILE_SUFFIXES
from spark_jobs.contract_columns import line_reason, record_schema, typed_value
from spark_jobs.lake import overwrite_partition, read_partitions
from spark_jobs.session import get_spark

LINE_MASK = (1 << 33) - 1  # monotonically_increasing_id: partition << 33 | row in partition
QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("file", T.StringType()),
        T.StructField("line", T.LongType()),
        T.StructField("reason", T.StringType()),
        T.StructField("raw", T.StringType()),
    ]
)
REPORT_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("rows", T.LongType()),
        T.StructField("ingested", T.LongType()),
        T.StructField("duplicates", T.LongType()),
        T.StructField("bad", T.LongType()),
        T.StructField("bad_rate", T.DoubleType()),
        T.StructField("max_bad_row_rate", T.DoubleType()),
        T.StructField("passed", T.BooleanType()),
    ]
)


class BadRowRateExceeded(RuntimeError):
    """A source's share of bad rows in one landing partition is over the threshold."""


@dataclass(frozen=True)
class SourceCounts:
    source: str
    rows: int
    ingested: int
    duplicates: int
    bad: int

    @property
    def bad_rate(self) -> float:
        return self.bad / self.rows if self.rows else 0.0


def landing_dir(landing: str | Path, source: str, ds: dt.date) -> Path:
    return Path(landing) / source / f"ds={ds.isoformat()}"


def has_files(landing: str | Path, source: str, ds: dt.date) -> bool:
    folder = landing_dir(landing, source, ds)
    return folder.is_dir() and any(p.name.endswith(FILE_SUFFIXES) for p in folder.iterdir())


def read_lines(spark: SparkSession, landing: str | Path, source: str, ds: dt.date) -> DataFrame:
    """Every line of the day's files with its file name and 1-based line number.

    Each file is read whole into one partition (never split), so the row index
    inside a partition is the line number; gzip is decompressed by the reader.
    """
    folder = landing_dir(landing, source, ds)
    paths = [str(p) for p in sorted(folder.iterdir()) if p.name.endswith(FILE_SUFFIXES)]
    return (
        spark.read.text(paths)
        .select(
            F.col("value"),
            F.col("_metadata.file_name").alias("file"),
            (F.monotonically_increasing_id().bitwiseAND(F.lit(LINE_MASK)) + 1).alias("line"),
        )
    )


def parse_lines(lines: DataFrame, source: Source, deadline: dt.datetime) -> DataFrame:
    """Add the quarantine reason (null when valid), typed fields and a content hash."""
    parsed = lines.withColumn("parsed", F.expr("try_parse_json(value)"))
    checked = parsed.withColumn("reason", line_reason(source, deadline))
    typed = checked.select(
        "value", "file", "line", "reason",
        *[typed_value(f).alias(f.name) for f in source.fields],
    )
    content = F.to_json(F.struct(*[F.col(n) for n in source.field_names]))
    return typed.withColumn(
        "row_hash", F.when(F.col("reason").isNull(), F.sha2(content, 256))
    )


def classify_arrivals(parsed: DataFrame, earlier: DataFrame, source: Source) -> DataFrame:
    """Mark each valid row new, duplicate or conflict against the first arrival of its key.

    The first arrival is the earliest ds, then file name, then line; `earlier`
    holds (key..., row_hash) of rows ingested on previous days.
    """
    key = list(source.key)
    valid = parsed.where(F.col("reason").isNull())
    first_today = Window.partitionBy(*key).orderBy("file", "line")
    ranked = valid.withColumn("arrival", F.row_number().over(first_today)).withColumn(
        "first_hash", F.first("row_hash").over(first_today)
    )
    prior = earlier.select(*key, F.col("row_hash").alias("prior_hash")).dropDuplicates(key)
    joined = ranked.join(prior, on=key, how="left")
    reference = F.coalesce(F.col("prior_hash"), F.col("first_hash"))
    is_first = F.col("prior_hash").isNull() & (F.col("arrival") == 1)
    return joined.withColumn(
        "arrival_kind",
        F.when(is_first, "new")
        .when(F.col("row_hash") == reference, "duplicate")
        .otherwise("conflict"),
    )


def quarantine_rows(parsed: DataFrame, classified: DataFrame, source: Source) -> DataFrame:
    """Bad lines and conflicting re-deliveries, in the quarantine table's shape."""
    invalid = parsed.where(F.col("reason").isNotNull())
    conflicts = classified.where(F.col("arrival_kind") == "conflict").withColumn(
        "reason", F.lit(reason_conflict(source.key))
    )
    columns = [
        F.lit(source.name).alias("source"), "file", "line", "reason", F.col("value").alias("raw")
    ]
    return invalid.select(*columns).unionByName(conflicts.select(*columns))


def count_source(parsed: DataFrame, classified: DataFrame, source: str) -> SourceCounts:
    totals = parsed.agg(
        F.count(F.lit(1)).alias("rows"), F.count("reason").alias("invalid")
    ).first()
    kinds = {r["arrival_kind"]: r["n"] for r in
             classified.groupBy("arrival_kind").agg(F.count(F.lit(1)).alias("n")).collect()}
    return SourceCounts(
        source=source,
        rows=totals["rows"],
        ingested=kinds.get("new", 0),
        duplicates=kinds.get("duplicate", 0),
        bad=totals["invalid"] + kinds.get("conflict", 0),
    )


def report_frame(spark: SparkSession, counts: list[SourceCounts], limit: float) -> DataFrame:
    rows = [
        (c.source, c.rows, c.ingested, c.duplicates, c.bad, c.bad_rate, limit,
         c.bad_rate <= limit)
        for c in counts
    ]
    return spark.createDataFrame(rows, REPORT_SCHEMA)


def ingest(
    spark: SparkSession, landing: str, lake: str, config: CampaignConfig, ds: dt.date
) -> list[SourceCounts]:
    """Run the whole day; raise BadRowRateExceeded after writing quarantine and report."""
    # One partition per file, whatever its size: line numbers depend on it.
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(1 << 40))
    spark.conf.set("spark.sql.files.openCostInBytes", str(1 << 40))
    deadline = ds_deadline(ds, config.tz)
    counts: list[SourceCounts] = []
    quarantine = spark.createDataFrame([], QUARANTINE_SCHEMA)
    accepted: dict[str, DataFrame] = {}
    for name, source in SOURCES.items():
        schema = T.StructType([*record_schema(source).fields,
                               T.StructField("row_hash", T.StringType())])
        if not has_files(landing, name, ds):
            accepted[name] = spark.createDataFrame([], schema).select(
                "*", F.lit(None).cast("string").alias("file"),
                F.lit(None).cast("long").alias("line"))
            continue
        parsed = parse_lines(read_lines(spark, landing, name, ds), source, deadline).cache()
        earlier = read_partitions(spark, lake, name, schema, ds, before=True)
        classified = classify_arrivals(parsed, earlier, source).cache()
        counts.append(count_source(parsed, classified, name))
        quarantine = quarantine.unionByName(quarantine_rows(parsed, classified, source))
        accepted[name] = classified.where(F.col("arrival_kind") == "new").select(
            *source.field_names, "row_hash", "file", "line"
        )
    overwrite_partition(quarantine.coalesce(1), lake, "quarantine", ds)
    overwrite_partition(report_frame(spark, counts, config.max_bad_row_rate).coalesce(1),
                        lake, "ingest_report", ds)
    over = [c for c in counts if c.bad_rate > config.max_bad_row_rate]
    if over:
        details = "; ".join(
            f"{c.source}: {c.bad} of {c.rows} rows bad ({c.bad_rate:.2%})" for c in over
        )
        raise BadRowRateExceeded(
            f"ingest ds={ds}: bad-row rate above quality.max_bad_row_rate="
            f"{config.max_bad_row_rate:.2%} — {details}; see {lake}/quarantine/ds={ds}"
        )
    for name, rows in accepted.items():
        overwrite_partition(rows, lake, name, ds)
    spark.catalog.clearCache()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True)
    parser.add_argument("--lake", required=True, help="root of the lake (job outputs)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--ds", required=True, type=dt.date.fromisoformat)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, need_seed=False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = get_spark(f"ingest_landing {args.ds}")
    try:
        counts = ingest(spark, args.landing, args.lake, config, args.ds)
    except BadRowRateExceeded as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for c in counts:
        print(f"{c.source:12} rows={c.rows} ingested={c.ingested} "
              f"duplicates={c.duplicates} bad={c.bad} ({c.bad_rate:.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
