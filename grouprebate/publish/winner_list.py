"""The public winner list of the publish date: keyed group pseudonyms, nothing personal."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from grouprebate.config import CampaignConfig
from grouprebate.publish.draw import draw_seed, seed_digest
from grouprebate.publish.files import json_bytes, write_once
from grouprebate.warehouse.marts import Query


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
        "draw_seed_sha256": seed_digest(draw_seed(config)),
        "winner_count": len(winners),
        "winners": winners,
    }
    path = out / "public" / f"winner_list_{config.campaign_id}.json"
    write_once(path, json_bytes(document))
    return path
