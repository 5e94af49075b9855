"""The exports suite: what the staged payout batches of a date must satisfy before they
are published.

Three batches, read as finance reads the files (text, by their header): the date's staged
batch files together (their columns, whole positive amounts, timestamps with offset, the
campaign), the payout ids of every file published so far plus the staged ones (a payout is
paid exactly once), and one row per batch: its control record beside the file's own count,
total, SHA-256 and header, the data package's entry, and the batch the marts name
(marts.payout_batches), with the date's reconciliation (marts.payout_reconciliation) - so
the files' totals are the marts' to the fen. The suites depend on the config only; the
date picks the files.

The files are small whatever the campaign's size (a payout per member of a winning group,
the draw's winners set by the config), and they are written by Python from the warehouse,
not by Spark: they are validated as pandas frames, in the gate's process.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from expectations.gate import holds
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
# Patterns end with \Z, not $ (which also matches before a final newline); their groups
# capture nothing (pandas warns about capturing ones).
ISO_WITH_OFFSET = (r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d"
                   r":[0-5]\d(?:\.\d{6})?[+-](?:[01]\d|2[0-3]):[0-5]\d\Z")
# A control record's fields and their JSON types; a field missing or of another type is
# missing (None), which makes the identities that use it false.
CONTROL_FIELDS = {"campaign_id": str, "export_ds": str, "batch_id": str, "batch_number": int,
                  "batch_count": int, "file": str, "row_count": int, "total_fen": int,
                  "sha256": str, "bytes": int}
# What the marts say the date's batch files hold (payout_ledger numbers the batches).
MARTS_BATCHES_SQL = ("select file_name, batch_id, batch_number, batch_count, row_count, "
                     "total_fen from marts.payout_batches where export_ds = ?")
RECONCILIATION_SQL = "select is_balanced from marts.payout_reconciliation where export_ds = ?"
# The ids' check frame's flag: no other staged or published row has the row's payout_id.
PAYOUT_ONCE = "payout_id_once"
# Each batch beside its control record and the marts' row, for the sample.
CONTROL_SAMPLE = ("file", "marts_batch_id", "control_row_count", "file_row_count",
                  "marts_row_count", "control_total_fen", "file_total_fen", "marts_total_fen",
                  "control_sha256", "file_sha256")


def _meta(rule: str, clause: str) -> dict:
    return {"rule": f"{rule}: {clause}"}


def payout_file_suite(config: CampaignConfig) -> Any:
    """Every value as finance reads it: text, so each type is a pattern on the text."""
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
            column="payout_id", regex=r"^[0-9a-f]{32}\Z",
            meta=_meta(PAYOUT, "payout_id = the first 32 hex digits of the lowercase SHA-256")),
        gxe.ExpectColumnValuesToBeInSet(
            column="campaign_id", value_set=[config.campaign_id],
            meta=_meta(CAMPAIGN, "carried by every output file")),
        gxe.ExpectColumnValuesToMatchRegex(
            column="amount_fen", regex=r"^[1-9][0-9]*\Z",
            meta=_meta(PAYOUT, "amount = the part, a whole number of fen > 0 "
                               "(parts of 0 fen create no payout)")),
    ]
    expectations += [gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=ISO_WITH_OFFSET,
        meta=_meta(FILE, f"{column} ISO-8601 in the campaign timezone with offset"))
        for column in ("claimed_at", "due_by")]
    return gx.ExpectationSuite(name="exports.payout_file", expectations=expectations)


def payout_ids_suite() -> Any:
    """Checks the flag PAYOUT_ONCE of the ids' check frame (no other row has the id)."""
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
        identity("lines_match_the_header", "every line holds one value per column of the "
                                           "header"),
        identity("names_this_file", "the control record names the file's campaign_id, "
                                    "export_ds, file and the marts' batch id, number and count"),
        identity("row_count_equals", "the control's row_count is the file's rows and the marts'"),
        identity("total_fen_equals", "the control's total_fen is the sum of the file's amounts "
                                     "and the marts' control sum"),
        identity("sha256_equals", "the control's sha256 is the SHA-256 of the file's bytes"),
        identity("day_reconciles", "the date's files = marts.payouts of export_ds = the claimed "
                                   "splits (marts.payout_reconciliation)"),
    ])


class PayoutFile(NamedTuple):
    """A payout file as read: its header, its rows by the header's names, and how many of
    its lines hold another number of values than the header names."""

    header: list[str]
    rows: list[dict[str, str | None]]
    ragged: int


def _read_payout_file(path: Path) -> PayoutFile:
    """A payout file as finance reads it: the header row names the columns, every value is
    text and an empty one is missing (None); a line with fewer values than the header misses
    the rest, one with more has them dropped, and both are counted (the control record's
    `lines_match_the_header` fails on them). An unreadable file fails the gate."""
    from expectations.gate import QualityGateFailed

    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            lines = csv.reader(handle)
            header = next(lines, [])
            values = list(lines)
    except csv.Error as exc:
        raise QualityGateFailed(f"exports gate: {path} cannot be read as CSV: {exc}") from None
    rows = [{name: value or None for name, value in zip(header, row, strict=False)}
            for row in values]
    return PayoutFile(header, rows, sum(len(row) != len(header) for row in values))


def _frame(rows: list[dict], columns: list[str] | None = None) -> Any:
    """Rows as a pandas frame of Python objects (no float for a missing integer)."""
    import pandas as pd

    return pd.DataFrame(rows, columns=columns, dtype=object)


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
            "day_balanced": balanced,
            "file_sha256": digest, "file_bytes": len(data) if path else None,
            **dict(zip(("marts_batch_id", "marts_batch_number", "marts_batch_count",
                        "marts_row_count", "marts_total_fen"), batch, strict=True)),
        })
    return rows


def _control_record(path: Path) -> dict[str, Any]:
    """A control record's fields, None where missing, of another type, or unreadable."""
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        record = None
    record = record if isinstance(record, dict) else {}
    return {name: value if isinstance(value, kind) and not isinstance(value, bool) else None
            for name, kind in CONTROL_FIELDS.items() for value in [record.get(name)]}


def _fen(value: str | None) -> Decimal | None:
    """An amount as a number if it reads as one (a malformed amount fails its own
    expectation, not the file's total)."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def control_check(files: dict[str, PayoutFile], folder: Path, rows: list[dict],
                  config: CampaignConfig, ds: dt.date) -> Any:
    """One row per batch (`rows`: staged_rows): its control record beside the file's own
    count, total and digest (`files`: each staged file, by name) and the marts' batch.

    A batch without a control record gets nulls, hence false identities; the file's total
    sums the amounts as decimals, so an amount that is not a whole number fails its own
    expectation rather than the total.
    """
    checks = []
    for row in rows:
        file = row["file"]
        control = _control_record(folder / control_file_name(file))
        read = files.get(file)
        rows_of_file = read.rows if read else []
        file_rows = len(rows_of_file) if row["staged"] else None
        file_total = (sum((_fen(line.get("amount_fen")) or Decimal(0) for line in rows_of_file),
                          Decimal(0)) if row["staged"] else None)
        checks.append({
            "file": file, "marts_batch_id": row["marts_batch_id"],
            "control_row_count": control["row_count"], "file_row_count": file_rows,
            "marts_row_count": row["marts_row_count"],
            "control_total_fen": control["total_fen"], "file_total_fen": file_total,
            "marts_total_fen": row["marts_total_fen"],
            "control_sha256": control["sha256"], "file_sha256": row["file_sha256"],
            "staged_as_the_marts_name_it": row["staged"] and row["in_marts"] and row["in_package"],
            "header_is_the_contracts": read is not None and read.header == list(PAYOUT_COLUMNS),
            "lines_match_the_header": read is not None and read.ragged == 0,
            "names_this_file": (control["campaign_id"] == config.campaign_id
                                and control["export_ds"] == ds.isoformat()
                                and control["file"] == file
                                and control["batch_id"] == row["marts_batch_id"]
                                and control["batch_number"] == row["marts_batch_number"]
                                and control["batch_count"] == row["marts_batch_count"]),
            "row_count_equals": (control["row_count"] == file_rows
                                 and control["row_count"] == row["marts_row_count"]),
            "total_fen_equals": (control["total_fen"] == file_total
                                 and control["total_fen"] == row["marts_total_fen"]),
            "sha256_equals": (row["staged"] and control["sha256"] == row["file_sha256"]
                              and control["bytes"] == row["file_bytes"]),
            "day_reconciles": row["day_balanced"],
        })
    return _frame(checks)


def export_batches(staging: str, exports: str, config: CampaignConfig, ds: dt.date,
                   query: Query) -> list:
    """The staged batch files of ds, the payout ids of them and of every other date's
    published file, and one check row per batch against its control record and the
    marts (query reads them), as gate batches.

    Nothing staged fails the gate; files without the payout columns are checked for
    their columns only (their ids and amounts cannot be read).
    """
    from expectations.gate import Batch, QualityGateFailed

    folder = Path(staging) / "payouts"
    package = folder / package_file_name(config, ds)
    files = sorted(folder.glob(f"{batch_prefix(config, ds)}*.csv"))
    if not package.is_file() or not files:
        raise QualityGateFailed(f"exports gate, ds={ds}: nothing staged at {package} and "
                                f"{folder / batch_prefix(config, ds)}*.csv: stage the "
                                "payouts first")
    staged = {path.name: _read_payout_file(path) for path in files}
    columns = list(dict.fromkeys(name for read in staged.values() for name in read.header))
    table = f"staging/payouts/{batch_prefix(config, ds)}*.csv ({len(files)} file(s))"
    batches = [Batch(table, payout_file_suite(config),
                     _frame([line for read in staged.values() for line in read.rows], columns),
                     ("payout_id",))]
    if not set(PAYOUT_COLUMNS) <= set(columns):
        return batches
    published = other_payout_files(Path(exports) / "payouts", config, ds)
    ids = [{"payout_id": line.get("payout_id"), "file": f"staged {name}"}
           for name, read in staged.items() for line in read.rows]
    ids += [{"payout_id": line.get("payout_id"), "file": f"published {path.name}"}
            for path in published for line in _read_payout_file(path).rows]
    ids_frame = _frame(ids, ["payout_id", "file"])
    ids_frame[PAYOUT_ONCE] = ~ids_frame.duplicated("payout_id", keep=False)
    return batches + [
        Batch(f"payout ids of {len(published)} published file(s) and {len(files)} staged",
              payout_ids_suite(), ids_frame, ("payout_id", "file")),
        Batch(f"staging/payouts/{batch_prefix(config, ds)}*: control records and marts",
              control_record_suite(),
              control_check(staged, folder, staged_rows(folder, config, ds, query), config, ds),
              CONTROL_SAMPLE),
    ]
