"""Finance's payout batches of a run date: batch files, their control records and the
date's data package; each payout exactly once.

Which payout goes into which batch is decided in dbt (`marts.payout_ledger` numbers the
batches, `marts.payout_batches` lists every batch file of a date, an empty one included);
this module writes exactly the files those marts name.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig
from grouprebate.errors import PermanentError
from grouprebate.publish.files import (
    csv_bytes,
    json_bytes,
    local_iso,
    replace_atomically,
    write_once,
)
from grouprebate.warehouse.marts import Query

PAYOUT_COLUMNS = ("payout_id", "campaign_id", "group_id", "user_id", "amount_fen",
                  "claimed_at", "due_by")
# A date's batches and their lines, in file order: an empty batch has one row of nulls.
BATCH_LINES_SQL = (
    "select b.batch_id, b.batch_number, b.batch_count, b.file_name, b.row_count, "
    "b.total_fen, p.payout_id, p.group_id, p.user_id, p.amount_fen, p.claimed_at, p.due_by "
    "from marts.payout_batches b "
    "left join marts.payout_ledger l "
    "on l.entry_type = 'payout_exported' and l.batch_id = b.batch_id "
    "left join marts.payouts p on p.payout_id = l.payout_id "
    "where b.export_ds = ? order by b.batch_number, p.payout_id"
)


class DuplicatePayout(PermanentError):
    """A payout is about to appear in a second payout file."""


class BatchMismatch(PermanentError):
    """The marts disagree on a batch: its lines are not the count and sum it announces."""


def control_file_name(file_name: str) -> str:
    return f"{file_name}.control.json"


def package_file_name(config: CampaignConfig, ds: dt.date) -> str:
    """The data package of a date: every batch file of ds with its schema, size and digest."""
    return f"payouts_{config.campaign_id}_{ds.isoformat()}.datapackage.json"


def schema_file_name(config: CampaignConfig) -> str:
    return f"payouts_{config.campaign_id}.schema.json"


def batch_prefix(config: CampaignConfig, ds: dt.date) -> str:
    """Every batch file of ds starts with this (payout_batch_id in dbt/macros)."""
    return f"payouts_{config.campaign_id}_{ds.isoformat()}_"


def table_schema(config: CampaignConfig) -> dict[str, Any]:
    """The Frictionless Table Schema of a batch file: what finance's tools check a line by.

    No value stands for a missing one (missingValues is empty), so an id is read as the
    string it is, whatever it holds.
    """
    def text(name: str, description: str, **constraints: Any) -> dict[str, Any]:
        return {"name": name, "type": "string", "description": description,
                "constraints": {"required": True, "minLength": 1, **constraints}}

    def instant(name: str, description: str) -> dict[str, Any]:
        return {"name": name, "type": "datetime", "description": description,
                "constraints": {"required": True}}

    return {
        "fields": [
            text("payout_id", "Idempotency key of the line: the first 32 hex digits of "
                 "SHA-256('<campaign_id>:<group_id>:<user_id>'); paid once, ever.",
                 unique=True, pattern="[0-9a-f]{32}"),
            text("campaign_id", "The campaign.", enum=[config.campaign_id]),
            text("group_id", "The winning group."),
            text("user_id", "The member paid."),
            {"name": "amount_fen", "type": "integer",
             "description": "The part to pay, in fen (1 CNY = 100 fen).",
             "constraints": {"required": True, "minimum": 1}},
            instant("claimed_at", "When the claim was made (ISO 8601 with offset)."),
            instant("due_by", "Pay at the latest by then: claimed_at + payout_sla_hours."),
        ],
        "primaryKey": ["payout_id"],
        "missingValues": [],
    }


def _resource(control: dict[str, Any], schema_name: str) -> dict[str, Any]:
    return {
        "name": control["batch_id"].lower(),
        "title": f"Payout batch {control['batch_id']}",
        "path": control["file"],
        "profile": "tabular-data-resource",
        "schema": schema_name,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "dialect": {"delimiter": ",", "quoteChar": '"', "doubleQuote": True,
                    "lineTerminator": "\n", "header": True},
        "hash": f"sha256:{control['sha256']}",
        "bytes": control["bytes"],
    }


def stage_payouts(
    query: Query, config: CampaignConfig, ds: dt.date, staging: Path, out: Path
) -> dict:
    """The batch files of ds, a control record beside each, the date's data package and
    the table schema, written to staging/payouts/ for the exports gate; only
    publish_payouts publishes them.

    Staged files are not published yet, so a re-run replaces them (the date's earlier
    staged batches first, in case the batch size changed).
    """
    lines = query(BATCH_LINES_SQL, [ds])
    if not lines:
        raise BatchMismatch(f"marts.payout_batches has no batch for ds={ds}: build the marts "
                            "of this date before exporting its payouts")
    batches = [(head, [row[6:] for row in rows if row[6] is not None])
               for head, rows in groupby(lines, key=lambda row: row[:6])]
    _refuse_payouts_in_other_files(out / "payouts", config, ds,
                                   {payout[0] for _, payouts in batches for payout in payouts})
    folder = staging / "payouts"
    for path in _staged_of(folder, config, ds):
        path.unlink()
    controls = [_stage_batch(folder, config, ds, head, payouts) for head, payouts in batches]
    schema_name = schema_file_name(config)
    replace_atomically(folder / schema_name, json_bytes(table_schema(config)))
    package = {
        "name": f"payouts-{config.campaign_id}-{ds.isoformat()}".lower(),
        "title": f"Payout batches of {config.campaign_id} for {ds.isoformat()}",
        "profile": "tabular-data-package",
        "resources": [_resource(control, schema_name) for control in controls],
    }
    replace_atomically(folder / package_file_name(config, ds), json_bytes(package))
    return {"export_ds": ds.isoformat(), "package": package_file_name(config, ds),
            "batches": controls}


def _stage_batch(folder: Path, config: CampaignConfig, ds: dt.date, head: Sequence[Any],
                 payouts: list[tuple]) -> dict[str, Any]:
    batch_id, number, count, name, row_count, total_fen = head
    records = [
        (pid, config.campaign_id, gid, uid, int(amount), local_iso(claimed, config),
         local_iso(due, config))
        for pid, gid, uid, amount, claimed, due in payouts
    ]
    total = sum(r[4] for r in records)
    if (len(records), total) != (row_count, total_fen):
        raise BatchMismatch(
            f"batch {batch_id} of ds={ds}: marts.payout_batches announces {row_count} rows "
            f"and {total_fen} fen, the ledger's payouts are {len(records)} rows and {total} "
            "fen; the marts disagree, rebuild them before exporting")
    data = csv_bytes(PAYOUT_COLUMNS, records)
    control = {
        "campaign_id": config.campaign_id,
        "export_ds": ds.isoformat(),
        "batch_id": batch_id,
        "batch_number": int(number),
        "batch_count": int(count),
        "file": name,
        "row_count": len(records),
        "total_fen": total,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    replace_atomically(folder / name, data)
    replace_atomically(folder / control_file_name(name), json_bytes(control))
    return control


def _staged_of(folder: Path, config: CampaignConfig, ds: dt.date) -> list[Path]:
    """The batch files, control records and data package of ds in folder."""
    if not folder.is_dir():
        return []
    package = package_file_name(config, ds)
    return sorted(p for p in folder.iterdir()
                  if p.name.startswith(batch_prefix(config, ds)) or p.name == package)


def publish_payouts(staging: Path, config: CampaignConfig, ds: dt.date, out: Path) -> dict:
    """Publish the staged batches of ds once the exports gate passed them: the schema, the
    batch files, their control records, then the data package, so whatever finance finds
    published names only files that are already there."""
    folder = staging / "payouts"
    package_path = folder / package_file_name(config, ds)
    if not package_path.is_file():
        raise FileNotFoundError(f"{package_path} was not staged: stage the payouts of ds={ds} "
                                "and pass the exports gate before publishing")
    package = json.loads(package_path.read_bytes())
    files = [resource["path"] for resource in package["resources"]]
    names = [schema_file_name(config), *files, *map(control_file_name, files)]
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} was not staged: stage the payouts of "
                                    f"ds={ds} again before publishing")
    for name in [*names, package_path.name]:
        write_once(out / "payouts" / name, (folder / name).read_bytes())
    return {"export_ds": ds.isoformat(), "package": package_path.name,
            "batches": [json.loads((folder / control_file_name(f)).read_bytes())
                        for f in files]}


def other_payout_files(folder: Path, config: CampaignConfig, ds: dt.date) -> list[Path]:
    """The campaign's batch files in folder of every date but ds, by name."""
    own = batch_prefix(config, ds)
    return [path for path in sorted(folder.glob(f"payouts_{config.campaign_id}_*.csv"))
            if not path.name.startswith(own)]


def _refuse_payouts_in_other_files(
    folder: Path, config: CampaignConfig, ds: dt.date, payout_ids: set[str]
) -> None:
    """Exactly once: no payout may already sit in another day's file."""
    for path in other_payout_files(folder, config, ds):
        with path.open(newline="", encoding="utf-8") as handle:
            already = {row["payout_id"] for row in csv.DictReader(handle)} & payout_ids
        if already:
            raise DuplicatePayout(
                f"{len(already)} payout(s) of ds={ds}, e.g. {sorted(already)[0]}, were already "
                f"exported in {path.name}; a payout is paid exactly once"
            )
