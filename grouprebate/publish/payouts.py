"""Finance's payout file of a run date, with its control record; each payout exactly once."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

from grouprebate.config import CampaignConfig
from grouprebate.publish.files import csv_bytes, json_bytes, local_iso, write_once
from grouprebate.warehouse.marts import Query

PAYOUT_COLUMNS = ("payout_id", "campaign_id", "group_id", "user_id", "amount_fen",
                  "claimed_at", "due_by")


class DuplicatePayout(RuntimeError):
    """A payout is about to appear in a second payout file."""


def payout_file_name(config: CampaignConfig, ds: dt.date) -> str:
    return f"payouts_{config.campaign_id}_{ds.isoformat()}.csv"


def export_payouts(query: Query, config: CampaignConfig, ds: dt.date, out: Path) -> dict:
    """The payout file of ds (claims that arrived in landing partition ds) and its control."""
    rows = query(
        "select payout_id, group_id, user_id, amount_fen, claimed_at, due_by "
        "from marts.payouts where export_ds = ? order by payout_id",
        [ds],
    )
    records = [
        (pid, config.campaign_id, gid, uid, int(amount), local_iso(claimed, config),
         local_iso(due, config))
        for pid, gid, uid, amount, claimed, due in rows
    ]
    folder = out / "payouts"
    _refuse_payouts_in_other_files(folder, config, ds, {r[0] for r in records})
    data = csv_bytes(PAYOUT_COLUMNS, records)
    name = payout_file_name(config, ds)
    control = {
        "campaign_id": config.campaign_id,
        "export_ds": ds.isoformat(),
        "file": name,
        "row_count": len(records),
        "total_fen": sum(r[4] for r in records),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    write_once(folder / name, data)
    write_once(folder / f"{name}.control.json", json_bytes(control))
    return control


def _refuse_payouts_in_other_files(
    folder: Path, config: CampaignConfig, ds: dt.date, payout_ids: set[str]
) -> None:
    """Exactly once: no payout may already sit in another day's file."""
    if not folder.is_dir():
        return
    own = payout_file_name(config, ds)
    for path in sorted(folder.glob(f"payouts_{config.campaign_id}_*.csv")):
        if path.name == own:
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            already = {row["payout_id"] for row in csv.DictReader(handle)} & payout_ids
        if already:
            raise DuplicatePayout(
                f"{len(already)} payout(s) of ds={ds}, e.g. {sorted(already)[0]}, were already "
                f"exported in {path.name}; a payout is paid exactly once"
            )
