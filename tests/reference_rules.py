"""A slow, literal plain-Python reading of docs/rules.md §4 (attribution, pools, validity).

It shares nothing with the Spark transforms but the contract helpers, so the
property test that compares the two catches a rule implemented wrongly in
either one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from grouprebate.config import CampaignConfig

Row = dict[str, Any]


def is_member(memberships: list[Row], group: str, user: str, t: dt.datetime) -> bool:
    events = [m for m in memberships
              if m["group_id"] == group and m["user_id"] == user and m["event_time"] <= t]
    if not events:
        return False
    latest = max(events, key=lambda m: (m["event_time"], m["event_id"]))
    return latest["action"] == "join"


def members(memberships: list[Row], group: str, t: dt.datetime) -> set[str]:
    users = {m["user_id"] for m in memberships if m["group_id"] == group}
    return {u for u in users if is_member(memberships, group, u, t)}


def version_key(version: str) -> tuple[int, ...]:
    """A sortable key comparing versions numerically (8.10.0 > 8.9.0; 8.1 == 8.1.0)."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def recent(version: str, minimum: str) -> bool:
    return version_key(version) >= version_key(minimum)


def first_payment(payments: list[Row], order_id: str) -> Row | None:
    mine = [p for p in payments if p["order_id"] == order_id]
    return min(mine, key=lambda p: (p["paid_at"], p["payment_id"])) if mine else None


def attribute(t: dict[str, list[Row]], c: CampaignConfig) -> dict[str, Row]:
    """order_id -> {group_id, share_id, contribution_fen} for every attributed order."""
    result = {}
    for o in t["orders"]:
        first = first_payment(t["payments"], o["order_id"])
        if first is None or not recent(o["client_version"], c.min_client_version):
            continue
        p = first["paid_at"]
        if not c.accumulation_start <= p < c.accumulation_end:
            continue
        candidates = [
            s for s in t["shares"]
            if s["item_id"] == o["item_id"]
            and s["shared_at"] <= p
            and s["sharer_user_id"] != o["buyer_user_id"]
            and recent(s["client_version"], c.min_client_version)
            and is_member(t["memberships"], s["group_id"], o["buyer_user_id"], p)
            and is_member(t["memberships"], s["group_id"], s["sharer_user_id"], s["shared_at"])
        ]
        if not candidates:
            continue
        # Last touch: latest shared_at, then the smallest share_id.
        best = min(candidates, key=lambda s: (-s["shared_at"].timestamp(), s["share_id"]))
        paid = sum(x["amount_fen"] for x in t["payments"]
                   if x["order_id"] == o["order_id"] and x["paid_at"] <= c.draw_open)
        refunded = sum(r["amount_fen"] for r in t["refunds"]
                       if r["order_id"] == o["order_id"] and r["refunded_at"] <= c.draw_open)
        result[o["order_id"]] = {"group_id": best["group_id"], "share_id": best["share_id"],
                                 "contribution_fen": max(0, paid - refunded)}
    return result


def peak_members(memberships: list[Row], group: str, until: dt.datetime) -> int:
    instants = {m["event_time"] for m in memberships
                if m["group_id"] == group and m["event_time"] <= until}
    return max((len(members(memberships, group, t)) for t in instants), default=0)


def group_validity(t: dict[str, list[Row]], group: Row, c: CampaignConfig) -> bool:
    profiles = [u for u in t["users"] if u["user_id"] == group["creator_user_id"]
                and u["valid_from"] <= group["created_at"]]
    if not profiles:
        return False
    profile = max(profiles, key=lambda u: u["valid_from"])
    return (profile["gender"] == c.creator_gender
            and profile["naughty_value"] >= c.creator_min_naughty_value
            and peak_members(t["memberships"], group["group_id"], c.draw_open)
            <= c.group_max_members)


def pools(t: dict[str, list[Row]], c: CampaignConfig) -> dict[str, Row]:
    """group_id -> pool, member count at draw_open, validity, eligibility (groups with a record)."""
    attributed = attribute(t, c)
    result = {}
    for g in t["groups"]:
        gid = g["group_id"]
        pool = sum(a["contribution_fen"] for a in attributed.values() if a["group_id"] == gid)
        count = len(members(t["memberships"], gid, c.draw_open))
        valid = group_validity(t, g, c)
        result[gid] = {"pool_fen": pool, "member_count_at_draw_open": count, "is_valid": valid,
                       "is_eligible": valid and count >= c.group_min_members and pool > 0}
    return result


def split(red_packet: int, contributions: dict[str, int]) -> dict[str, int]:
    """user_id -> part in fen, 0-fen parts included: the split of docs/rules.md §4, read literally.

    With P the red packet and C the sum of the contributions c_u: if C > 0, u gets
    floor(P * c_u / C); if C = 0, P is split equally the same way (every weight 1).
    The P - sum(floor) leftover fen go one each to the largest remainders
    (P * c_u mod C), ties by the smallest user_id in code point order (byte order
    of UTF-8), as sorted() orders str.
    """
    total = sum(contributions.values())
    weights = dict(contributions) if total > 0 else dict.fromkeys(contributions, 1)
    total = sum(weights.values())
    parts = {user: red_packet * weight // total for user, weight in weights.items()}
    remainders = {user: red_packet * weight % total for user, weight in weights.items()}
    leftover = red_packet - sum(parts.values())
    by_remainder = sorted(weights, key=lambda user: (-remainders[user], user))
    for user in by_remainder[:leftover]:
        parts[user] += 1
    return parts
