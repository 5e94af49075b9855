"""Files that leave the pipeline: payout files for finance, the public winner list, the draw audit.

Every file is written atomically and is a pure function of the marts and the
run date, so a re-run writes the same bytes. A published file is never
changed: writing different bytes over it raises PublishedFileConflict.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig

Query = Callable[[str, Sequence[Any]], list[tuple]]
PAYOUT_COLUMNS = ("payout_id", "campaign_id", "group_id", "user_id", "amount_fen",
                  "claimed_at", "due_by")


class PublishedFileConflict(RuntimeError):
    """A file that was already published would change."""


class DuplicatePayout(RuntimeError):
    """A payout is about to appear in a second payout file."""


def duckdb_query(warehouse: Path) -> Query:
    """Queries on the DuckDB warehouse file (reads only).

    The connection uses DuckDB's default configuration, because a process that
    just ran dbt in-process still holds the file open that way, and DuckDB
    refuses a second connection with a different one.
    """
    import duckdb

    def query(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with duckdb.connect(str(warehouse)) as con:
            return con.execute(sql, list(params)).fetchall()

    return query


def write_once(path: Path, data: bytes) -> bool:
    """Write atomically; identical bytes are a no-op, different bytes are refused.

    Returns True when the file was (re)written.
    """
    if path.exists():
        if path.read_bytes() == data:
            return False
        raise PublishedFileConflict(
            f"{path} was already published with different contents; published files never "
            "change. Investigate what changed upstream instead of overwriting it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _local_iso(value: dt.datetime, config: CampaignConfig) -> str:
    if value.tzinfo is None:  # warehouses may hand back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(config.tz).isoformat()


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


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
        (pid, config.campaign_id, gid, uid, int(amount), _local_iso(claimed, config),
         _local_iso(due, config))
        for pid, gid, uid, amount, claimed, due in rows
    ]
    folder = out / "payouts"
    _refuse_payouts_in_other_files(folder, config, ds, {r[0] for r in records})
    data = _csv(PAYOUT_COLUMNS, records)
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
    write_once(folder / f"{name}.control.json", _json(control))
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


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def seed_digest(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def publish_seed_digest(config: CampaignConfig, out: Path) -> Path:
    """Before the draw: commit to the seed by publishing its SHA-256."""
    path = out / "draw" / f"draw_seed_sha256_{config.campaign_id}.txt"
    write_once(path, f"{seed_digest(_seed(config))}\n".encode())
    return path


def publish_draw_audit(query: Query, config: CampaignConfig, out: Path) -> Path:
    """After the draw: the seed, the eligible groups, their digests and the winners."""
    rows = query(
        "select group_id, pool_fen, member_count_at_draw_open, draw_digest, draw_rank, is_winner "
        "from marts.draw_audit order by draw_rank",
        [],
    )
    folder = out / "draw"
    header = ("group_id", "pool_fen", "member_count_at_draw_open", "draw_digest", "draw_rank",
              "is_winner")
    audit = [(g, int(p), int(m), d, int(r), "true" if w else "false")
             for g, p, m, d, r, w in rows]
    write_once(folder / f"draw_audit_{config.campaign_id}.csv", _csv(header, audit))
    seed = _seed(config)
    summary = {
        "campaign_id": config.campaign_id,
        "draw_open": config.draw_open.isoformat(),
        "seed": seed,
        "seed_sha256": seed_digest(seed),
        "digest_rule": "lowercase hex SHA-256 of the UTF-8 string '<seed>:<group_id>'",
        "winner_rule": "the winner_count eligible groups with the smallest digests",
        "winner_count": config.draw_winner_count,
        "eligible_groups": len(audit),
        "winners": sum(1 for row in audit if row[5] == "true"),
    }
    path = folder / f"draw_{config.campaign_id}.json"
    write_once(path, _json(summary))
    return path


def pseudonym(key: str, group_id: str) -> str:
    """Keyed pseudonym of a group: HMAC-SHA256(key, group_id), hex."""
    return hmac.new(key.encode("utf-8"), group_id.encode("utf-8"), hashlib.sha256).hexdigest()


def publish_winner_list(query: Query, config: CampaignConfig, key: str, out: Path) -> Path:
    """The public list: group pseudonyms only, no user ids, no purchases, no amounts.

    Red packets are left out on purpose: a packet is the group's total spend,
    which for a small group comes close to revealing what each person bought.
    """
    rows = query("select group_id, member_count_at_draw_open from marts.winner_list", [])
    winners = sorted(
        ({"group_pseudonym": pseudonym(key, g), "member_count": int(m)} for g, m in rows),
        key=lambda w: w["group_pseudonym"],
    )
    document = {
        "campaign_id": config.campaign_id,
        "published_on": config.publish_date.isoformat(),
        "draw_seed_sha256": seed_digest(_seed(config)),
        "winner_count": len(winners),
        "winners": winners,
    }
    path = out / "public" / f"winner_list_{config.campaign_id}.json"
    write_once(path, _json(document))
    return path


def _seed(config: CampaignConfig) -> str:
    if not config.draw_seed:
        raise ValueError("the draw seed is needed here: load the config with need_seed=True")
    return config.draw_seed
