"""The verifiable draw: the seed's digest before it, the audit with the seed after it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from grouprebate.config import CampaignConfig
from grouprebate.publish.files import csv_bytes, json_bytes, write_once
from grouprebate.warehouse.marts import Query


def seed_digest(seed: str) -> str:
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def publish_seed_digest(config: CampaignConfig, out: Path) -> Path:
    """Before the draw: commit to the seed by publishing its SHA-256."""
    path = out / "draw" / f"draw_seed_sha256_{config.campaign_id}.txt"
    write_once(path, f"{seed_digest(draw_seed(config))}\n".encode())
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
    write_once(folder / f"draw_audit_{config.campaign_id}.csv", csv_bytes(header, audit))
    seed = draw_seed(config)
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
    write_once(path, json_bytes(summary))
    return path


def draw_seed(config: CampaignConfig) -> str:
    if not config.draw_seed:
        raise ValueError("the draw seed is needed here: load the config with need_seed=True")
    return config.draw_seed
