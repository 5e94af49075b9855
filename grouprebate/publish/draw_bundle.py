"""The draw's audit bundle: what `grouprebate verify-draw` re-runs the draw from (docs/draw.md).

Written on the freeze date beside the draw audit, from marts.draw_audit. Its format is
the verifier's (grouprebate/verify_draw.py), so the two cannot drift; its content is the
dbt draw's, and tests/test_draw_bundle.py holds the verifier to it.
"""

from __future__ import annotations

from pathlib import Path

from grouprebate.config import CampaignConfig
from grouprebate.publish.draw import draw_seed, seed_digest
from grouprebate.publish.files import csv_bytes, json_bytes, local_iso, write_once
from grouprebate.publish.winner_list import pseudonym
from grouprebate.verify_draw import (
    DRAW_JSON,
    ELIGIBLE_CSV,
    ELIGIBLE_HEADER,
    FORMAT,
    GROUPS_CSV,
    GROUPS_HEADER,
    INTERNAL,
    NOTICE,
    PUBLIC,
    WINNERS_CSV,
    WINNERS_HEADER,
)
from grouprebate.warehouse.marts import Query

NOTICE_TEXT = (
    "INTERNAL - owner only. groups.csv names every eligible group by its id and pool.\n"
    "Never publish this folder: the public part of the bundle is ../public/.\n"
    "An auditor re-runs the whole draw with: grouprebate verify-draw <bundle folder>\n"
)


def bundle_dir(config: CampaignConfig, out: Path) -> Path:
    return out / "draw" / f"bundle_{config.campaign_id}"


def publish_draw_bundle(query: Query, config: CampaignConfig, key: str, out: Path) -> Path:
    """After the draw: the public part (pseudonyms, digests, ranks, winners, the seed and
    the rules) and the owner-only internal part (group ids and pools)."""
    rows = query(
        "select group_id, pool_fen, member_count_at_draw_open, draw_digest, draw_rank, "
        "is_winner from marts.draw_audit order by draw_rank",
        [],
    )
    groups = [(int(r), d, pseudonym(key, g), g, int(p), int(m), bool(w))
              for g, p, m, d, r, w in rows]
    seed = draw_seed(config)
    folder = bundle_dir(config, out)
    draw = {
        "bundle_format": FORMAT,
        "campaign_id": config.campaign_id,
        "draw_open": local_iso(config.draw_open, config),
        "seed": seed,
        "seed_sha256": seed_digest(seed),
        "digest_rule": "lowercase hex SHA-256 of the UTF-8 string '<seed>:<group_id>'",
        "order_rule": "ascending digest; equal digests (never seen) by group_id, bytewise UTF-8",
        "winner_rule": "the winner_count eligible groups of smallest rank; all of them if "
                       "fewer are eligible",
        "eligibility_rule": "a valid group with at least group_min_members members at "
                            "draw_open and a pool above 0 fen",
        "pseudonym_rule": "lowercase hex HMAC-SHA256 of the UTF-8 group_id under the "
                          "campaign's secret key",
        "winner_count": config.draw_winner_count,
        "group_min_members": config.group_min_members,
        "eligible_groups": len(groups),
        "winners": sum(1 for g in groups if g[6]),
    }
    public = folder / PUBLIC
    write_once(public / DRAW_JSON, json_bytes(draw))
    write_once(public / ELIGIBLE_CSV, csv_bytes(
        ELIGIBLE_HEADER, [(r, d, s, "true" if w else "false") for r, d, s, _, _, _, w in groups]))
    write_once(public / WINNERS_CSV, csv_bytes(
        WINNERS_HEADER, [(r, d, s) for r, d, s, _, _, _, w in groups if w]))
    internal = folder / INTERNAL
    internal.mkdir(mode=0o700, parents=True, exist_ok=True)
    internal.chmod(0o700)  # mkdir's mode passes through the umask, and an existing folder
    write_once(internal / NOTICE, NOTICE_TEXT.encode())
    write_once(internal / GROUPS_CSV, csv_bytes(
        GROUPS_HEADER, [(r, d, s, g, p, m) for r, d, s, g, p, m, _ in groups]))
    return folder
