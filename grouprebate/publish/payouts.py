"""Finance's payout file of a run date, with its control record; each payout exactly once."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

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


class DuplicatePayout(PermanentError):
    """A payout is about to appear in a second payout file."""


def payout_file_name(config: CampaignConfig, ds: dt.date) -> str:
    return f"payouts_{config.campaign_id}_{ds.isoformat()}.csv"


def stage_payouts(
    query: Query, config: CampaignConfig, ds: dt.date, staging: Path, out: Path
) -> dict:
    """The payout file of ds (claims that arrived in landing partition ds) and its control,
    written to staging/payouts/ for the exports gate; only publish_payouts publishes them.

    Staged files are not published yet, so a re-run replaces them.
    """
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
    _refuse_payouts_in_other_files(out / "payouts", config, ds, {r[0] for r in records})
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
    folder = staging / "payouts"
    replace_atomically(folder / name, data)
    replace_atomically(folder / control_file_name(name), json_bytes(control))
    return control


def publish_payouts(staging: Path, config: CampaignConfig, ds: dt.date, out: Path) -> dict:
    """Publish the staged payout file of ds once the exports gate passed it: the file,
    then its control record, so a published control always has its file beside it."""
    name = payout_file_name(config, ds)
    staged = [staging / "payouts" / n for n in (name, control_file_name(name))]
    for path in staged:
        if not path.is_file():
            raise FileNotFoundError(f"{path} was not staged: stage the payouts of ds={ds} "
                                    "and pass the exports gate before publishing")
    for path in staged:
        write_once(out / "payouts" / path.name, path.read_bytes())
    return json.loads(staged[1].read_bytes())


def control_file_name(file_name: str) -> str:
    return f"{file_name}.control.json"


def other_payout_files(folder: Path, config: CampaignConfig, ds: dt.date) -> list[Path]:
    """The campaign's payout files in folder of every date but ds, by name."""
    own = payout_file_name(config, ds)
    return [path for path in sorted(folder.glob(f"payouts_{config.campaign_id}_*.csv"))
            if path.name != own]


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
