"""`grouprebate verify-draw`: re-run the draw from its audit bundle alone (docs/draw.md).

This is the check a member of the public runs, so it is written from the documented rule
(docs/rules.md §4, Draw), not from the dbt model that makes the draw, and it reads nothing
but the bundle's files: the standard library only, no warehouse, no config, no secret.

A bundle is a folder with a public part, which anyone may hold, and an internal part,
which only the campaign's owner and its auditors hold:

    public/draw.json       the seed, its SHA-256 (committed before the draw), the rules, K
    public/eligible.csv    every eligible group: rank, digest, pseudonym, whether it won
    public/winners.csv     the winners: rank, digest, pseudonym
    internal/groups.csv    every eligible group's id and pool, beside its rank and digest

With the public part alone the check proves that the seed is the committed one, that the
ranks order the digests and that the winners are the K smallest; with the internal part it
also recomputes every digest from the seed and the group's id, and checks eligibility.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
PUBLIC, INTERNAL = "public", "internal"
DRAW_JSON, ELIGIBLE_CSV, WINNERS_CSV = "draw.json", "eligible.csv", "winners.csv"
GROUPS_CSV, NOTICE = "groups.csv", "NOTICE.txt"
ELIGIBLE_HEADER = ("draw_rank", "draw_digest", "group_pseudonym", "is_winner")
WINNERS_HEADER = ("draw_rank", "draw_digest", "group_pseudonym")
GROUPS_HEADER = ("draw_rank", "draw_digest", "group_pseudonym", "group_id", "pool_fen",
                 "member_count_at_draw_open")
DRAW_FIELDS = {"bundle_format": int, "campaign_id": str, "draw_open": str, "seed": str,
               "seed_sha256": str, "winner_count": int, "group_min_members": int,
               "eligible_groups": int, "winners": int}
HEX64 = re.compile(r"[0-9a-f]{64}")
INTEGER = re.compile(r"0|[1-9][0-9]*")


class MalformedBundle(ValueError):
    """The folder is not a draw bundle this tool can read; the message says what is wrong."""


@dataclass(frozen=True)
class Verdict:
    matches: bool
    message: str


def digest(seed: str, group_id: str) -> str:
    """The draw's digest of a group: lowercase hex SHA-256 of the UTF-8 '<seed>:<group_id>'."""
    return hashlib.sha256(f"{seed}:{group_id}".encode()).hexdigest()


def verify_bundle(bundle: Path) -> Verdict:
    """Recompute the winners from the bundle; the first difference found, or a match.

    Raises MalformedBundle when a file is missing or unreadable, or not in the format.
    """
    draw = _read_draw(bundle / PUBLIC / DRAW_JSON)
    eligible = _read_csv(bundle / PUBLIC / ELIGIBLE_CSV, ELIGIBLE_HEADER)
    winners = _read_csv(bundle / PUBLIC / WINNERS_CSV, WINNERS_HEADER)
    internal_path = bundle / INTERNAL / GROUPS_CSV
    try:
        present = internal_path.exists()
    except OSError as exc:  # a folder of another owner: exists() raises on EACCES
        raise MalformedBundle(f"{internal_path}: cannot be read ({exc})") from None
    internal = _read_csv(internal_path, GROUPS_HEADER) if present else None
    problem = (_check_seed(draw) or _check_counts(draw, eligible, winners)
               or _check_order(draw, eligible, winners)
               or (_check_internal(draw, eligible, internal) if internal is not None else None))
    if problem:
        return Verdict(False, f"mismatch: {problem}")
    scope = ("public and internal parts: every digest recomputed from the seed and its "
             "group id" if internal is not None else
             "public part only: digests taken as published (the internal part recomputes "
             "them from the group ids)")
    return Verdict(True, f"match: {len(winners)} winners among {len(eligible)} eligible "
                         f"groups of {draw['campaign_id']}, K = {draw['winner_count']}, "
                         f"seed SHA-256 {draw['seed_sha256']} ({scope})")


def find_group(bundle: Path, group_id: str) -> str:
    """Where a group one knows the id of stands in the draw: its digest, rank and result."""
    draw = _read_draw(bundle / PUBLIC / DRAW_JSON)
    eligible = _read_csv(bundle / PUBLIC / ELIGIBLE_CSV, ELIGIBLE_HEADER)
    mine = digest(draw["seed"], group_id)
    for row in eligible:
        if row["draw_digest"] == mine:
            result = "won" if row["is_winner"] == "true" else "did not win"
            return (f"group {group_id!r}: digest {mine}, rank {row['draw_rank']} of "
                    f"{len(eligible)}, {result} (pseudonym {row['group_pseudonym']})")
    return f"group {group_id!r}: digest {mine} is not among the eligible groups"


def _check_seed(draw: dict[str, Any]) -> str | None:
    actual = hashlib.sha256(draw["seed"].encode()).hexdigest()
    if actual != draw["seed_sha256"]:
        return (f"{PUBLIC}/{DRAW_JSON}: the seed's SHA-256 is {actual}, but the bundle "
                f"commits to {draw['seed_sha256']}")
    return None


def _check_counts(draw: dict[str, Any], eligible: list[dict], winners: list[dict]) -> str | None:
    if len(eligible) != draw["eligible_groups"]:
        return (f"{PUBLIC}/{ELIGIBLE_CSV} lists {len(eligible)} groups, {DRAW_JSON} says "
                f"eligible_groups = {draw['eligible_groups']}")
    if len(winners) != draw["winners"]:
        return (f"{PUBLIC}/{WINNERS_CSV} lists {len(winners)} groups, {DRAW_JSON} says "
                f"winners = {draw['winners']}")
    return None


def _check_order(draw: dict[str, Any], eligible: list[dict], winners: list[dict]) -> str | None:
    """Ranks follow the digests, the K smallest win, and winners.csv lists exactly them."""
    ranked = sorted(eligible, key=lambda row: row["draw_digest"])
    for before, after in zip(ranked, ranked[1:], strict=False):
        if before["draw_digest"] == after["draw_digest"]:
            return f"{PUBLIC}/{ELIGIBLE_CSV}: digest {before['draw_digest']} appears twice"
    k = min(draw["winner_count"], len(ranked))
    for rank, row in enumerate(ranked, start=1):
        if row["draw_rank"] != str(rank):
            return (f"{PUBLIC}/{ELIGIBLE_CSV}: digest {row['draw_digest']} is the {rank}. "
                    f"smallest, so its rank is {rank}, but the bundle says {row['draw_rank']}")
        expected = "true" if rank <= k else "false"
        if row["is_winner"] != expected:
            return (f"{PUBLIC}/{ELIGIBLE_CSV}: rank {rank} (pseudonym {row['group_pseudonym']}) "
                    f"has is_winner = {row['is_winner']}, but with K = {draw['winner_count']} "
                    f"it is {expected}")
    for n, row in enumerate(ranked[:k]):
        found = winners[n] if n < len(winners) else None
        if found is None or any(found[c] != row[c] for c in WINNERS_HEADER):
            return (f"{PUBLIC}/{WINNERS_CSV} row {n + 1}: the draw's winner of rank {n + 1} "
                    f"is {_describe(row)}, the bundle lists {_describe(found)}")
    if len(winners) > k:
        return (f"{PUBLIC}/{WINNERS_CSV} row {k + 1}: {_describe(winners[k])} is listed, but "
                f"the draw has only {k} winners")
    return None


def _check_internal(draw: dict[str, Any], eligible: list[dict], internal: list[dict]) -> str | None:
    """Every digest is the seed's digest of its group id; the public rows are the same groups;
    every group is eligible by the numbers the bundle carries; ties go to the smaller id."""
    seed = draw["seed"]
    for row in internal:
        if row["draw_digest"] != digest(seed, row["group_id"]):
            return (f"{INTERNAL}/{GROUPS_CSV}: group {row['group_id']!r} (rank "
                    f"{row['draw_rank']}) has digest {row['draw_digest']}, but SHA-256 of "
                    f"'<seed>:{row['group_id']}' is {digest(seed, row['group_id'])}")
        if int(row["pool_fen"]) <= 0 or int(row["member_count_at_draw_open"]) < draw[
                "group_min_members"]:
            return (f"{INTERNAL}/{GROUPS_CSV}: group {row['group_id']!r} is not eligible: "
                    f"pool {row['pool_fen']} fen, {row['member_count_at_draw_open']} members "
                    f"(at least {draw['group_min_members']} and a pool above 0 are needed)")
    ids = sorted(internal, key=lambda row: (row["draw_digest"], row["group_id"].encode()))
    public = {row["draw_rank"]: row for row in eligible}
    for rank, row in enumerate(ids, start=1):
        if row["draw_rank"] != str(rank):
            return (f"{INTERNAL}/{GROUPS_CSV}: group {row['group_id']!r} ranks {rank}, but "
                    f"the bundle says {row['draw_rank']}")
        seen = public.get(row["draw_rank"])
        if seen is None or any(seen[c] != row[c] for c in WINNERS_HEADER):
            return (f"rank {rank}: {INTERNAL}/{GROUPS_CSV} has {_describe(row)}, "
                    f"{PUBLIC}/{ELIGIBLE_CSV} has {_describe(seen)}")
    if len(ids) != len(eligible):
        return (f"{INTERNAL}/{GROUPS_CSV} lists {len(ids)} groups, {PUBLIC}/{ELIGIBLE_CSV} "
                f"{len(eligible)}")
    return None


def _describe(row: dict[str, str] | None) -> str:
    if row is None:
        return "nothing"
    return (f"pseudonym {row['group_pseudonym']} (rank {row['draw_rank']}, "
            f"digest {row['draw_digest']})")


def _read_draw(path: Path) -> dict[str, Any]:
    try:
        draw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MalformedBundle(f"{path}: missing; is this a draw bundle folder?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBundle(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(draw, dict):
        raise MalformedBundle(f"{path}: expected a JSON object")
    for name, kind in DRAW_FIELDS.items():
        value = draw.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise MalformedBundle(f"{path}: field {name!r} must be a JSON {kind.__name__}, "
                                  f"got {value!r}")
    if draw["bundle_format"] != FORMAT:
        raise MalformedBundle(f"{path}: bundle_format {draw['bundle_format']} is not the "
                              f"format {FORMAT} this tool reads")
    if not HEX64.fullmatch(draw["seed_sha256"]):
        raise MalformedBundle(f"{path}: seed_sha256 must be 64 lowercase hex digits")
    if draw["winner_count"] <= 0:
        raise MalformedBundle(f"{path}: winner_count must be positive")
    return draw


def _read_csv(path: Path, header: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a bundle CSV, each field checked against the column's format."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise MalformedBundle(f"{path}: missing; is this a draw bundle folder?") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MalformedBundle(f"{path}: not readable CSV ({exc})") from None
    if not rows or tuple(rows[0]) != header:
        raise MalformedBundle(f"{path}: the header must be {','.join(header)}")
    out = []
    for line, values in enumerate(rows[1:], start=2):
        if len(values) != len(header):
            raise MalformedBundle(f"{path} line {line}: expected {len(header)} fields, "
                                  f"got {len(values)}")
        row = dict(zip(header, values, strict=True))
        for name, value in row.items():
            if not _valid(name, value):
                raise MalformedBundle(f"{path} line {line}: {name} {value!r} is not "
                                      f"{_FORMATS[name][1]}")
        out.append(row)
    return out


_FORMATS = {
    "draw_rank": (lambda v: INTEGER.fullmatch(v) is not None and v != "0",
                  "a positive integer"),
    "draw_digest": (lambda v: HEX64.fullmatch(v) is not None, "64 lowercase hex digits"),
    "group_pseudonym": (lambda v: HEX64.fullmatch(v) is not None, "64 lowercase hex digits"),
    "is_winner": (lambda v: v in ("true", "false"), "true or false"),
    "group_id": (lambda v: v != "", "a non-empty id"),
    "pool_fen": (lambda v: re.fullmatch(r"-?(0|[1-9][0-9]*)", v) is not None,
                 "an integer number of fen"),
    "member_count_at_draw_open": (lambda v: INTEGER.fullmatch(v) is not None,
                                  "a non-negative integer"),
}


def _valid(name: str, value: str) -> bool:
    return _FORMATS[name][0](value)
