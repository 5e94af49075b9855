"""The exports suite: what the staged payout batches of a date must satisfy before they
are published.

Four batches, read with Spark where the files are: the date's staged batch files together
(their columns, whole positive amounts, timestamps with offset, the campaign), the payout
ids of every file published so far plus the staged ones (a payout is paid exactly once),
and one row per batch: its control record beside the file's own count, total, SHA-256 and
header, the data package's entry, and the batch the marts name (marts.payout_batches), with
the date's reconciliation (marts.payout_reconciliation) - so the files' totals are the
marts' to the fen. The suites depend on the config only; the date picks the files.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from expectations.gate import holds, one_task_if_small, with_unique_flag
from grouprebate.config import CampaignConfig
from grouprebate.publish.payouts import (
    PAYOUT_COLUMNS,
    batch_prefix,
    control_file_name,
    other_payout_files,
    package_file_name,
)
from grouprebate.warehouse.marts import Query

FILE = "docs/rules.md §5 payout file"
PAYOUT = "docs/rules.md §4 payout"
CAMPAIGN = "docs/rules.md §2 campaign_id"
# What Python's isoformat() writes for an aware datetime: seconds, optional micros, offset.
ISO_WITH_OFFSET = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d"
                   r":[0-5]\d(\.\d{6})?[+-]([01]\d|2[0-3]):[0-5]\d$")
CONTROL_SCHEMA = ("campaign_id string, export_ds string, batch_id string, batch_number long, "
                  "batch_count long, file string, row_count long, total_fen long, "
                  "sha256 string, bytes long")
# What the marts say the date's batch files hold (payout_ledger numbers the batches).
MARTS_BATCHES_SQL = ("select file_name, batch_id, batch_number, batch_count, row_count, "
                     "total_fen from marts.payout_batches where export_ds = ?")
RECONCILIATION_SQL = "select is_balanced from marts.payout_reconciliation where export_ds = ?"
STAGED_SCHEMA = ("file string, staged boolean, in_marts boolean, in_package boolean, "
                 "header_ok boolean, day_balanced boolean, file_sha256 string, file_bytes long, "
                 "marts_batch_id string, marts_batch_number long, marts_batch_count long, "
                 "marts_row_count long, marts_total_fen long")
# The ids' check frame's flag: no other staged or published row has the row's payout_id.
PAYOUT_ONCE = "payout_id_once"
# Each batch beside its control record and the marts' row, for the sample.
CONTROL_SAMPLE = ("file", "marts_batch_id", "control_row_count", "file_row_count",
                  "marts_row_count", "control_total_fen", "file_total_fen", "marts_total_fen",
                  "control_sha256", "file_sha256")


def _meta(rule: str, clause: str) -> dict:
    return {"rule": f"{rule}: {clause}"}


def payout_file_suite(config: CampaignConfig) -> Any:
    """Every value as finance reads it: Spark reads the file with every column a string,
    so each type is a pattern on the text (column-map expectations: one aggregate query)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [gxe.ExpectTableColumnsToMatchSet(
        column_set=list(PAYOUT_COLUMNS), exact_match=True,
        meta=_meta(FILE, f"the columns {', '.join(PAYOUT_COLUMNS)} (their order: "
                         "header_is_the_contracts, of every file)"))]
    expectations += [gxe.ExpectColumnValuesToNotBeNull(
        column=column, meta=_meta(FILE, f"every payout has its {column}"))
        for column in PAYOUT_COLUMNS]
    expectations += [
        gxe.ExpectColumnValuesToMatchRegex(
            column="payout_id", regex=r"^[0-9a-f]{32}$",
            meta=_meta(PAYOUT, "payout_id = the first 32 hex digits of the lowercase SHA-256")),
        gxe.ExpectColumnValuesToBeInSet(
            column="campaign_id", value_set=[config.campaign_id],
            meta=_meta(CAMPAIGN, "carried by every output file")),
        gxe.ExpectColumnValuesToMatchRegex(
            column="amount_fen", regex=r"^[1-9][0-9]*$",
            meta=_meta(PAYOUT, "amount = the part, a whole number of fen > 0 "
                               "(parts of 0 fen create no payout)")),
    ]
    expectations += [gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=ISO_WITH_OFFSET,
        meta=_meta(FILE, f"{column} ISO-8601 in the campaign timezone with offset"))
        for column in ("claimed_at", "due_by")]
    return gx.ExpectationSuite(name="exports.payout_file", expectations=expectations)


def payout_ids_suite() -> Any:
    """Checks the flag PAYOUT_ONCE of the ids' check frame (gate.with_unique_flag)."""
    import great_expectations as gx

    return gx.ExpectationSuite(name="exports.payout_ids", expectations=[
        holds(PAYOUT_ONCE, _meta(FILE, "a payout_id once: a payout already in another "
                                       "date's file fails the export")),
    ])


def control_record_suite() -> Any:
    """The batches' identities, computed by the check frame as booleans (cheap: no
    column-pair queries); a missing control value makes its identity false."""
    import great_expectations as gx

    def identity(column: str, clause: str) -> Any:
        return holds(column, _meta(FILE, clause))

    return gx.ExpectationSuite(name="exports.control_record", expectations=[
        identity("staged_as_the_marts_name_it", "the date's batch files are exactly those of "
                                                "marts.payout_batches, each in the data package "
                                                "with its size and SHA-256"),
        identity("header_is_the_contracts", "a header row of the payout columns, in order"),
        identity("names_this_file", "the control record names the file's campaign_id, "
                                    "export_ds, file and the marts' batch id, number and count"),
        identity("row_count_equals", "the control's row_count is the file's rows and the marts'"),
        identity("total_fen_equals", "the control's total_fen is the sum of the file's amounts "
                                     "and the marts' control sum"),
        identity("sha256_equals", "the control's sha256 is the SHA-256 of the file's bytes"),
        identity("day_reconciles", "the date's files = marts.payouts of export_ds = the claimed "
                                   "splits (marts.payout_reconciliation)"),
    ])


def _read_payout_files(spark: Any, paths: list[str]) -> Any:
    """Payout files as written: a header row, every value a string, quotes doubled."""
    return spark.read.csv(paths, header=True, escape='"', multiLine=True)


def _header_ok(path: Path) -> bool:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return next(csv.reader(handle), None) == list(PAYOUT_COLUMNS)


def _packaged(package_path: Path) -> dict[str, tuple[str, int]]:
    """The data package's files with their announced digest and size; none if unreadable."""
    try:
        package = json.loads(package_path.read_bytes())
        return {r["path"]: (r["hash"], r["bytes"]) for r in package["resources"]}
    except (ValueError, KeyError, TypeError):
        return {}


def staged_rows(folder: Path, config: CampaignConfig, ds: dt.date, query: Query) -> list[dict]:
    """One row per batch file staged or named by the marts (either may be missing)."""
    marts = {row[0]: row[1:] for row in query(MARTS_BATCHES_SQL, [ds])}
    balanced = [row[0] for row in query(RECONCILIATION_SQL, [ds])] == [True]
    packaged = _packaged(folder / package_file_name(config, ds))
    staged = {p.name: p for p in folder.glob(f"{batch_prefix(config, ds)}*.csv")}
    rows = []
    for name in sorted(staged.keys() | marts.keys()):
        path, batch = staged.get(name), marts.get(name, (None,) * 5)
        data = path.read_bytes() if path else b""
        digest = hashlib.sha256(data).hexdigest() if path else None
        rows.append({
            "file": name, "staged": path is not None, "in_marts": name in marts,
            "in_package": path is not None and packaged.get(name) == (f"sha256:{digest}",
                                                                      len(data)),
            "header_ok": path is not None and _header_ok(path), "day_balanced": balanced,
            "file_sha256": digest, "file_bytes": len(data) if path else None,
            **dict(zip(("marts_batch_id", "marts_batch_number", "marts_batch_count",
                        "marts_row_count", "marts_total_fen"), batch, strict=True)),
        })
    return rows


def control_check(spark: Any, staged: Any, folder: Path, rows: list[dict],
                  config: CampaignConfig, ds: dt.date) -> Any:
    """One row per batch: its control record beside the file's own count, total and
    digest and the marts' batch.

    A batch without a control record gets nulls, hence false identities; the file's total
    sums the amounts as decimals, so an amount that is not a whole number fails its own
    expectation rather than the total.
    """
    from pyspark.sql import functions as F

    totals = staged.groupBy(F.col("_metadata.file_name").alias("file")).agg(
        F.count(F.lit(1)).alias("file_row_count"),
        F.sum(F.col("amount_fen").try_cast("decimal(38, 9)")).alias("file_total_fen"))
    controls = [str(folder / control_file_name(r["file"])) for r in rows
                if (folder / control_file_name(r["file"])).is_file()]
    control = (spark.read.json(controls, schema=CONTROL_SCHEMA, multiLine=True)
               .withColumn("control_of", F.regexp_replace(
                   F.col("_metadata.file_name"), r"\.control\.json$", ""))
               if controls else spark.createDataFrame([], CONTROL_SCHEMA + ", control_of string"))
    checks = (spark.createDataFrame(rows, STAGED_SCHEMA)
              .join(totals, "file", "left")
              .join(control.withColumnRenamed("file", "control_file")
                    .withColumnRenamed("control_of", "file"), "file", "left"))
    file_rows = F.when(F.col("staged"), F.coalesce("file_row_count", F.lit(0)))
    file_total = F.when(F.col("staged"), F.coalesce("file_total_fen", F.lit(0)))
    return checks.select(
        "file", "marts_batch_id",
        F.col("row_count").alias("control_row_count"), file_rows.alias("file_row_count"),
        "marts_row_count", F.col("total_fen").alias("control_total_fen"),
        file_total.alias("file_total_fen"), "marts_total_fen",
        F.col("sha256").alias("control_sha256"), "file_sha256",
        (F.col("staged") & F.col("in_marts") & F.col("in_package"))
        .alias("staged_as_the_marts_name_it"),
        F.col("header_ok").alias("header_is_the_contracts"),
        (F.col("campaign_id").eqNullSafe(config.campaign_id)
         & F.col("export_ds").eqNullSafe(ds.isoformat())
         & F.col("control_file").eqNullSafe(F.col("file"))
         & F.col("batch_id").eqNullSafe(F.col("marts_batch_id"))
         & F.col("batch_number").eqNullSafe(F.col("marts_batch_number"))
         & F.col("batch_count").eqNullSafe(F.col("marts_batch_count"))).alias("names_this_file"),
        (F.col("row_count").eqNullSafe(file_rows)
         & F.col("row_count").eqNullSafe(F.col("marts_row_count"))).alias("row_count_equals"),
        (F.col("total_fen").eqNullSafe(file_total)
         & F.col("total_fen").eqNullSafe(F.col("marts_total_fen"))).alias("total_fen_equals"),
        (F.col("staged") & F.col("sha256").eqNullSafe(F.col("file_sha256"))
         & F.col("bytes").eqNullSafe(F.col("file_bytes"))).alias("sha256_equals"),
        F.col("day_balanced").alias("day_reconciles"))


def export_batches(spark: Any, staging: str, exports: str, config: CampaignConfig,
                   ds: dt.date, query: Query) -> list:
    """The staged batch files of ds, the payout ids of them and of every other date's
    published file, and one check row per batch against its control record and the
    marts (query reads them), as gate batches.

    Nothing staged fails the gate; files without the payout columns are checked for
    their columns only (their ids and amounts cannot be read).
    """
    from pyspark.sql import functions as F

    from expectations.gate import Batch, QualityGateFailed

    folder = Path(staging) / "payouts"
    package = folder / package_file_name(config, ds)
    files = sorted(folder.glob(f"{batch_prefix(config, ds)}*.csv"))
    if not package.is_file() or not files:
        raise QualityGateFailed(f"exports gate, ds={ds}: nothing staged at {package} and "
                                f"{folder / batch_prefix(config, ds)}*.csv: stage the "
                                "payouts first")
    staged = _read_payout_files(spark, [str(p) for p in files])
    table = f"staging/payouts/{batch_prefix(config, ds)}*.csv ({len(files)} file(s))"
    batches = [Batch(table, payout_file_suite(config), one_task_if_small(staged, files),
                     ("payout_id",), counts=False)]
    if not set(PAYOUT_COLUMNS) <= set(staged.columns):
        return batches
    published = [str(p) for p in other_payout_files(Path(exports) / "payouts", config, ds)]
    read = [*files, *published]
    ids = staged.select("payout_id", F.concat(F.lit("staged "), F.col("_metadata.file_name"))
                        .alias("file"))
    if published:
        ids = ids.unionByName(_read_payout_files(spark, published).select(
            "payout_id", F.concat(F.lit("published "), F.col("_metadata.file_name"))
            .alias("file")))
    rows = staged_rows(folder, config, ds, query)
    return batches + [
        Batch(f"payout ids of {len(published)} published file(s) and {len(files)} staged",
              payout_ids_suite(),
              one_task_if_small(with_unique_flag(ids, ["payout_id"], PAYOUT_ONCE), read),
              ("payout_id", "file"), counts=False),
        Batch(f"staging/payouts/{batch_prefix(config, ds)}*: control records and marts",
              control_record_suite(),
              one_task_if_small(control_check(spark, staged, folder, rows, config, ds), files),
              CONTROL_SAMPLE, counts=False),
    ]
