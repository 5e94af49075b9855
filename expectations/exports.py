"""The exports suite: what a staged payout file must satisfy before it is published.

Three batches, read with Spark where the files are: the staged file itself (its columns,
whole positive amounts, timestamps with offset, the campaign), the payout ids of every
file published so far plus the staged one (a payout is paid exactly once), and the staged
control record beside the file's own count, total and SHA-256. The suites depend on the
config only; the date picks the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig
from grouprebate.publish.payouts import (
    PAYOUT_COLUMNS,
    control_file_name,
    other_payout_files,
    payout_file_name,
)

FILE = "docs/rules.md §5 payout file"
PAYOUT = "docs/rules.md §4 payout"
CAMPAIGN = "docs/rules.md §2 campaign_id"
# What Python's isoformat() writes for an aware datetime: seconds, optional micros, offset.
ISO_WITH_OFFSET = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d"
                   r":[0-5]\d(\.\d{6})?[+-]([01]\d|2[0-3]):[0-5]\d$")
CONTROL_SCHEMA = ("campaign_id string, export_ds string, file string, row_count long, "
                  "total_fen long, sha256 string")
# The staged file's count and total beside its control record's, for the sample.
CONTROL_SAMPLE = ("file", "control_row_count", "file_row_count", "control_total_fen",
                  "file_total_fen", "control_sha256", "file_sha256")


def _meta(rule: str, clause: str) -> dict:
    return {"rule": f"{rule}: {clause}"}


def payout_file_suite(config: CampaignConfig) -> Any:
    """Every value as finance reads it: Spark reads the file with every column a string,
    so each type is a pattern on the text (column-map expectations: one aggregate query)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [gxe.ExpectTableColumnsToMatchOrderedList(
        column_list=list(PAYOUT_COLUMNS),
        meta=_meta(FILE, f"the columns {', '.join(PAYOUT_COLUMNS)}, in this order"))]
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
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="exports.payout_ids", expectations=[
        gxe.ExpectColumnValuesToBeUnique(
            column="payout_id",
            meta=_meta(FILE, "a payout already in another date's file fails the export")),
    ])


def control_record_suite() -> Any:
    """The control's identities, computed by the check frame as booleans (cheap: no
    column-pair queries); a missing control value makes its identity false."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    def holds(column: str, clause: str) -> Any:
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True],
                                               meta=_meta(FILE, clause))

    return gx.ExpectationSuite(name="exports.control_record", expectations=[
        holds("names_this_file", "the control record names the file's campaign_id, "
                                 "export_ds and file"),
        holds("row_count_equals", "the control's row_count is the file's rows"),
        holds("total_fen_equals", "the control's total_fen is the sum of the file's amounts"),
        holds("sha256_equals", "the control's sha256 is the SHA-256 of the file's bytes"),
    ])


def _read_payout_files(spark: Any, paths: list[str]) -> Any:
    """Payout files as written: a header row, every value a string, quotes doubled."""
    return spark.read.csv(paths, header=True, escape='"')


def control_check(spark: Any, staged: Any, control_path: Path, digest: str,
                  config: CampaignConfig, ds: dt.date) -> Any:
    """One row: the control record beside the staged file's own count, total and digest.

    The file's row always exists (an empty control record gives nulls, hence false
    identities); its total sums the amounts as decimals, so an amount that is not a whole
    number fails its own expectation rather than the total.
    """
    from pyspark.sql import functions as F

    totals = staged.agg(
        F.count(F.lit(1)).alias("file_row_count"),
        F.coalesce(F.sum(F.col("amount_fen").try_cast("decimal(38, 9)")), F.lit(0))
        .alias("file_total_fen"))
    control = spark.read.json(str(control_path), schema=CONTROL_SCHEMA, multiLine=True)
    name = payout_file_name(config, ds)
    return totals.join(control, F.lit(True), "left").select(
        "file", F.col("row_count").alias("control_row_count"), "file_row_count",
        F.col("total_fen").alias("control_total_fen"), "file_total_fen",
        F.col("sha256").alias("control_sha256"), F.lit(digest).alias("file_sha256"),
        (F.col("campaign_id").eqNullSafe(config.campaign_id)
         & F.col("export_ds").eqNullSafe(ds.isoformat())
         & F.col("file").eqNullSafe(name)).alias("names_this_file"),
        F.col("row_count").eqNullSafe(F.col("file_row_count")).alias("row_count_equals"),
        F.col("total_fen").eqNullSafe(F.col("file_total_fen")).alias("total_fen_equals"),
        F.col("sha256").eqNullSafe(digest).alias("sha256_equals"))


def export_batches(spark: Any, staging: str, exports: str, config: CampaignConfig,
                   ds: dt.date) -> list:
    """The staged payout file of ds, the payout ids of it and of every other date's
    published file, and its control record, as gate batches.

    Nothing staged fails the gate; a file without the payout columns is checked for its
    columns only (its ids and amounts cannot be read).
    """
    from pyspark.sql import functions as F

    from expectations.gate import Batch, QualityGateFailed

    name = payout_file_name(config, ds)
    folder = Path(staging) / "payouts"
    file_path, control_path = folder / name, folder / control_file_name(name)
    missing = [str(p) for p in (file_path, control_path) if not p.is_file()]
    if missing:
        raise QualityGateFailed(f"exports gate, ds={ds}: nothing staged at "
                                f"{' and '.join(missing)}: stage the payouts first")
    staged = _read_payout_files(spark, [str(file_path)])
    batches = [Batch(f"staging/payouts/{name}", payout_file_suite(config), staged,
                     ("payout_id",))]
    if not set(PAYOUT_COLUMNS) <= set(staged.columns):
        return batches
    published = [str(p) for p in other_payout_files(Path(exports) / "payouts", config, ds)]
    ids = staged.select("payout_id", F.lit(f"staged {name}").alias("file"))
    if published:
        ids = ids.unionByName(_read_payout_files(spark, published).select(
            "payout_id", F.concat(F.lit("published "), F.col("_metadata.file_name"))
            .alias("file")))
    with file_path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return batches + [
        Batch(f"payout ids of {len(published)} published file(s) and staged {name}",
              payout_ids_suite(), ids, ("payout_id", "file")),
        Batch(f"staging/payouts/{control_file_name(name)}", control_record_suite(),
              control_check(spark, staged, control_path, digest, config, ds), CONTROL_SAMPLE),
    ]
