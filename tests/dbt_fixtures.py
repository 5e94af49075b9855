"""A tiny hand-built lake for the dbt tests: Parquet written directly, no Spark.

The scenario (2018 calendar, draw_open 2018-11-12 16:00+08, claim window 120 h) is
small enough to compute by hand; the comments give the expected results, and the
EXPECTED_* constants hold them. Tables have the exact types the Spark jobs write
(strings, int64, int32 member counts, UTC-adjusted timestamp micros, hive ds=...).

    g01  pool 1000: m9, m10, m11 gave 300 each, m14 100 and left at 16:30 (after
         draw_open), m20 joined at 16:45. Trigger m01 at 17:00 (arrived 11-12); a
         draws event at 16:10 arrives late on 11-13 and must not move the trigger.
         Splitters m01 m9 m10 m11 m20: C = 900, floor 333 each, remainders tie at 300,
         the one leftover fen goes to the smallest user_id 'm10' (bytewise < 'm11' < 'm9').
    g02  pool 6,000,000 > cap: red packet 5,000,000 (P * c_u > 2^31). x3 joined on 11-10
         but that join arrives on 11-14: x3's draws event (11-13 09:00, arrived 11-13)
         qualifies as of 11-14, the first day with a qualifying event, and is the
         earliest of that day's events -> trigger 11-13 09:00, observed 11-14.
         x1 4e6, x2 2e6: floors 3,333,333 and 1,666,666, leftover to x2 (remainder 4e6).
    g03  pool 701 from y5, who left at 18:00 before the trigger (20:00): C = 0, equal
         split of 701 over y1..y4 -> 176 (y1, smallest id), 175, 175, 175.
    g04  never triggered (a non-member's event; a member's after the deadline):
         whole packet of 500 forfeited.
    g05, g06 eligible but lose the draw; g07 invalid creator; g08 too small; g09 pool 0.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from grouprebate.config import CampaignConfig
from grouprebate.warehouse import dbt_runner as warehouse

TZ = dt.timezone(dt.timedelta(hours=8))
SEED = "fixture-seed-14"
WINNER_COUNT = 4
DAYS = [dt.date(2018, 11, d) for d in range(11, 19)]  # 11-11 .. 11-18
FREEZE_DS = dt.date(2018, 11, 12)


def t(text: str) -> dt.datetime:
    """'MM-DD HH:MM' in Beijing time, 2018."""
    return dt.datetime.strptime(f"2018-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=TZ)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(f"2018-{text}")


def fixture_config(base: CampaignConfig) -> CampaignConfig:
    """The 2018 config with the fixture's seed and K = 4."""
    return replace(base, draw_seed=SEED, draw_winner_count=WINNER_COUNT)


STR, I64, I32, F64, BOOL = pa.string(), pa.int64(), pa.int32(), pa.float64(), pa.bool_()
TS, DATE = pa.timestamp("us", tz="UTC"), pa.date32()
SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "groups": [("group_id", STR), ("creator_user_id", STR), ("name", STR), ("created_at", TS),
               ("row_hash", STR), ("file", STR), ("line", I64)],
    "shares": [("share_id", STR), ("group_id", STR), ("sharer_user_id", STR),
               ("item_id", STR), ("shared_at", TS), ("client_version", STR),
               ("row_hash", STR), ("file", STR), ("line", I64)],
    "draws": [("event_id", STR), ("group_id", STR), ("user_id", STR), ("drawn_at", TS),
              ("row_hash", STR), ("file", STR), ("line", I64)],
    "claims": [("event_id", STR), ("group_id", STR), ("user_id", STR), ("claimed_at", TS),
               ("row_hash", STR), ("file", STR), ("line", I64)],
    "quarantine": [("source", STR), ("file", STR), ("line", I64), ("reason", STR),
                   ("raw", STR)],
    "ingest_report": [("source", STR), ("rows", I64), ("ingested", I64),
                      ("duplicates", I64), ("bad", I64), ("bad_rate", F64),
                      ("max_bad_row_rate", F64), ("passed", BOOL)],
    "stray_files": [("path", STR), ("reason", STR), ("source", STR), ("file", STR)],
    "landing_changes": [("arrival_ds", DATE), ("source", STR), ("file", STR), ("change", STR)],
    "dq_results": [("run_ds", DATE), ("stage", STR), ("suite", STR), ("table_name", STR),
                   ("expectation", STR), ("column_name", STR), ("rule", STR),
                   ("severity", STR), ("success", BOOL), ("observed_value", STR),
                   ("element_count", I64), ("unexpected_count", I64), ("unexpected_sample", STR)],
    "attribution/membership_intervals": [("group_id", STR), ("user_id", STR),
                                         ("joined_at", TS), ("left_at", TS)],
    "attribution/orphans": [("source", STR), ("row_key", STR), ("parent_source", STR),
                            ("parent_id", STR), ("arrival_ds", DATE)],
    "attribution/late_arrivals": [("source", STR), ("row_key", STR), ("event_time", TS),
                                  ("arrival_ds", DATE)],
    "attribution/attributed_orders": [
        ("order_id", STR), ("group_id", STR), ("share_id", STR), ("buyer_user_id", STR),
        ("sharer_user_id", STR), ("item_id", STR), ("shared_at", TS),
        ("first_paid_at", TS), ("paid_fen", I64), ("refunded_fen", I64),
        ("contribution_fen", I64)],
    "attribution/member_contributions": [("group_id", STR), ("user_id", STR),
                                         ("contribution_fen", I64),
                                         ("attributed_orders", I64)],
    "attribution/group_pools": [
        ("group_id", STR), ("creator_user_id", STR), ("created_at", TS),
        ("creator_gender", STR), ("creator_naughty_value", I64),
        ("peak_members_before_draw", I32), ("member_count_at_draw_open", I32),
        ("pool_fen", I64), ("attributed_orders", I64), ("is_valid", BOOL),
        ("invalid_reason", STR), ("is_eligible", BOOL)],
}
LAKE_ONLY = ("groups", "shares", "draws", "claims", "quarantine", "ingest_report",
             "stray_files", "landing_changes", "dq_results")
EVERY_RUN = ("attribution/membership_intervals", "attribution/orphans",
             "attribution/late_arrivals")
FROZEN = ("attribution/attributed_orders", "attribution/member_contributions",
          "attribution/group_pools")


@dataclass(frozen=True)
class Group:
    group_id: str
    creator: str
    gender: str = "F"
    members: tuple[str, ...] = ()  # joined 10-25 10:00 unless in `intervals`
    invalid_reason: str | None = None


@dataclass(frozen=True)
class Interval:
    group_id: str
    user_id: str
    joined_at: dt.datetime
    left_at: dt.datetime | None = None
    known_from: dt.date = DAYS[0]  # first run date whose intervals include it


@dataclass(frozen=True)
class Purchase:
    group_id: str
    buyer: str
    sharer: str
    paid_fen: int
    arrived: dt.date = d("11-10")  # visible in every attribution partition from here on
    refunded_fen: int = 0


GROUPS = [
    Group("g01", "m01", members=("m01", "m9", "m10", "m11")),
    Group("g02", "x0", members=("x0", "x1", "x2", "x4")),
    Group("g03", "y1", members=("y1", "y2", "y3", "y4")),
    Group("g04", "z0", members=("z0", "z1", "z2", "z3")),
    Group("g05", "w0", members=("w0", "w1", "w2", "w3")),
    Group("g06", "v0", members=("v0", "v1", "v2", "v3")),
    Group("g07", "k0", gender="M", members=("k0", "k1", "k2", "k3"),
          invalid_reason="creator gender M, must be F"),
    Group("g08", "j0", members=("j0", "j1", "j2")),
    Group("g09", "h0", members=("h0", "h1", "h2", "h3")),
]
EXTRA_INTERVALS = [
    Interval("g01", "m14", t("10-26 09:00"), left_at=t("11-12 16:30"), known_from=d("11-11")),
    Interval("g01", "m20", t("11-12 16:45"), known_from=d("11-12")),
    Interval("g02", "x3", t("11-10 12:00"), known_from=d("11-14")),
    Interval("g03", "y5", t("10-26 09:00"), left_at=t("11-12 18:00")),
]
PURCHASES = [
    Purchase("g01", "m9", "m01", 300),
    Purchase("g01", "m10", "m01", 300),
    Purchase("g01", "m11", "m01", 200, arrived=d("11-11")),
    Purchase("g01", "m11", "m01", 100, arrived=d("11-12")),
    Purchase("g01", "m14", "m01", 100),
    Purchase("g02", "x1", "x0", 4_000_000),
    Purchase("g02", "x2", "x0", 2_000_000),
    Purchase("g03", "y5", "y1", 701),
    Purchase("g04", "z1", "z0", 500),
    Purchase("g05", "w1", "w0", 2000, refunded_fen=500),
    Purchase("g06", "v1", "v0", 3000),
    Purchase("g07", "k1", "k0", 900),
    Purchase("g08", "j1", "j0", 400),
]
# Names the public list masks (winner_list.py): markup, a one-character name, emoji.
GROUP_NAMES = {"g01": '<b>"A&B"</b>', "g02": "剁手姐妹团", "g03": "Z", "g04": "Team 🎁 4"}
UNCONVERTED_SHARES = 3  # shares that led to no attributed purchase

# (event_id, group, user, drawn_at, arrival ds)
DRAWS = [
    ("d-g01-a", "g01", "m01", t("11-12 17:00"), d("11-12")),
    ("d-g01-b", "g01", "m14", t("11-12 16:10"), d("11-13")),
    ("d-g01-c", "g01", "m9", t("11-12 15:00"), d("11-12")),  # before draw_open
    ("d-g02-a", "g02", "x3", t("11-13 09:00"), d("11-13")),
    ("d-g02-b", "g02", "x0", t("11-14 10:00"), d("11-14")),
    ("d-g03-b", "g03", "y9", t("11-12 19:00"), d("11-12")),  # not a member
    ("d-g03-a", "g03", "y1", t("11-12 20:00"), d("11-12")),
    ("d-g04-a", "g04", "z9", t("11-13 10:00"), d("11-13")),  # not a member
    ("d-g04-b", "g04", "z1", t("11-17 17:00"), d("11-17")),  # after the deadline
    ("d-g05-a", "g05", "w1", t("11-12 17:00"), d("11-12")),  # lost the draw
    ("d-g99-a", "g99", "q1", t("11-13 10:00"), d("11-13")),  # unknown group (orphan)
]
# (event_id, group, user, claimed_at, arrival ds)
CLAIMS = [
    ("c-g01-1", "g01", "m10", t("11-13 10:00"), d("11-13")),
    ("c-g01-2", "g01", "m11", t("11-14 09:00"), d("11-14")),
    ("c-g01-3", "g01", "m11", t("11-13 08:00"), d("11-15")),  # earlier, but late: duplicate
    ("c-g01-4", "g01", "m9", t("11-17 16:30"), d("11-18")),   # in the window, arrives late
    ("c-g01-5", "g01", "m20", t("11-13 11:00"), d("11-13")),  # part of 0 fen
    ("c-g01-6", "g01", "m14", t("11-13 12:00"), d("11-13")),  # left before the trigger
    ("c-g01-7", "g01", "m10", t("11-12 16:50"), d("11-12")),  # before the trigger
    ("c-g02-1", "g02", "x1", t("11-13 12:00"), d("11-13")),   # valid once triggered (11-14)
    ("c-g02-2", "g02", "x2", t("11-18 10:00"), d("11-18")),   # after the window (11-18 09:00)
    ("c-g02-3", "g02", "x1", t("11-13 08:00"), d("11-13")),   # before the trigger
    ("c-g03-1", "g03", "y1", t("11-12 21:00"), d("11-12")),
    ("c-g03-2", "g03", "y2", t("11-13 09:00"), d("11-13")),
    ("c-g03-3", "g03", "y5", t("11-13 09:30"), d("11-13")),   # left before the trigger
    ("c-g04-1", "g04", "z1", t("11-13 09:00"), d("11-13")),   # group never triggered
    ("c-g05-1", "g05", "w1", t("11-13 09:00"), d("11-13")),   # group lost the draw
    ("c-g99-1", "g99", "q1", t("11-13 09:00"), d("11-13")),   # unknown group
]
QUARANTINE = [  # (ds, source, file, line, reason, raw)
    (d("11-12"), "claims", "part-00000.jsonl", 7, "missing field user_id", '{"event_id":"c"}'),
    (d("11-12"), "claims", "part-00000.jsonl", 3, "missing field user_id", '{"event_id":"b"}'),
    (d("11-12"), "draws", "part-00001.jsonl", 1, "unparseable line: not a JSON object",
     "{\x00"),  # a NUL, which Postgres text cannot hold
    (d("11-12"), "draws", "part-00001.jsonl", 2, "empty line", ""),  # empty, not null
]
INGEST_REPORT = [  # (ds, source, rows, ingested, duplicates, bad)
    (d("11-12"), "claims", 300, 297, 0, 2),
    (d("11-12"), "draws", 400, 397, 0, 2),
]
# The fixture's landing has no stray and no file changed after its ingest: both tables are
# written empty by every run, as ingest writes them (tests/test_late_files.py adds rows).
STRAY_FILES: list[tuple] = []  # (ds, source, file, reason)
LANDING_CHANGES: list[tuple] = []  # (run ds, arrival ds, source, file, change)
LATE_ARRIVALS = [  # visible from arrival ds on: (source, row_key, event_time, arrival ds)
    ("memberships", "e-g02-x3-join", t("11-10 12:00"), d("11-14")),
]

# Hand-computed results (see the module docstring); amounts in fen.
EXPECTED_WINNERS = {  # group -> (pool, red packet, members at draw_open, triggered_at)
    "g01": (1000, 1000, 5, t("11-12 17:00")),
    "g02": (6_000_000, 5_000_000, 4, t("11-13 09:00")),
    "g03": (701, 701, 5, t("11-12 20:00")),
    "g04": (500, 500, 4, None),
}
EXPECTED_SPLITS = {  # (group, user) -> (contribution, split); parts of 0 are absent
    ("g01", "m10"): (300, 334), ("g01", "m11"): (300, 333), ("g01", "m9"): (300, 333),
    ("g02", "x1"): (4_000_000, 3_333_333), ("g02", "x2"): (2_000_000, 1_666_667),
    ("g03", "y1"): (0, 176), ("g03", "y2"): (0, 175), ("g03", "y3"): (0, 175),
    ("g03", "y4"): (0, 175),
}
EXPECTED_PAYOUTS = {  # (group, user) -> (amount, claimed_at, export_ds, claim event)
    ("g01", "m10"): (334, t("11-13 10:00"), d("11-13"), "c-g01-1"),
    ("g01", "m11"): (333, t("11-14 09:00"), d("11-14"), "c-g01-2"),
    ("g01", "m9"): (333, t("11-17 16:30"), d("11-18"), "c-g01-4"),
    ("g02", "x1"): (3_333_333, t("11-13 12:00"), d("11-14"), "c-g02-1"),
    ("g03", "y1"): (176, t("11-12 21:00"), d("11-12"), "c-g03-1"),
    ("g03", "y2"): (175, t("11-13 09:00"), d("11-13"), "c-g03-2"),
}
EXPECTED_FORFEITURES = {  # as of 11-18: (group, user) -> (amount, reason)
    ("g02", "x2"): (1_666_667, "unclaimed"),
    ("g03", "y3"): (175, "unclaimed"),
    ("g03", "y4"): (175, "unclaimed"),
    ("g04", None): (500, "not triggered within the claim window"),
}
EXPECTED_REJECTIONS = {  # as of 11-18
    "c-g01-3": "duplicate", "c-g01-5": "part of 0 fen", "c-g01-6": "not a splitter",
    "c-g01-7": "before trigger", "c-g02-2": "after claim window",
    "c-g02-3": "before trigger", "c-g03-3": "not a splitter",
    "c-g04-1": "group not triggered", "c-g05-1": "group not a winner",
    "c-g99-1": "group not a winner",
}


def draw_digest(seed: str, group_id: str) -> str:
    return hashlib.sha256(f"{seed}:{group_id}".encode()).hexdigest()


def python_draw(seed: str, eligible: list[str], k: int) -> list[str]:
    """The docs/rules.md §4 draw in plain Python: the k smallest digests."""
    return sorted(eligible, key=lambda g: (draw_digest(seed, g), g))[:k]


# ---------------------------------------------------------------- table rows per run date

def _intervals(ds: dt.date) -> list[dict]:
    rows = [Interval(g.group_id, u, t("10-25 10:00")) for g in GROUPS for u in g.members]
    rows += EXTRA_INTERVALS
    return [
        {"group_id": i.group_id, "user_id": i.user_id, "joined_at": i.joined_at,
         "left_at": i.left_at}
        for i in rows if i.known_from <= ds
    ]


def _purchases(ds: dt.date) -> list[tuple[int, Purchase]]:
    return [(n, p) for n, p in enumerate(PURCHASES) if p.arrived <= ds]


def _attributed_orders(ds: dt.date) -> list[dict]:
    return [
        {"order_id": f"o{n:03d}", "group_id": p.group_id, "share_id": f"s{n:03d}",
         "buyer_user_id": p.buyer, "sharer_user_id": p.sharer, "item_id": f"i{n:03d}",
         "shared_at": t("11-01 12:00"), "first_paid_at": t("11-05 12:00"),
         "paid_fen": p.paid_fen, "refunded_fen": p.refunded_fen,
         "contribution_fen": p.paid_fen - p.refunded_fen}
        for n, p in _purchases(ds)
    ]


def _member_contributions(ds: dt.date) -> list[dict]:
    totals: dict[tuple[str, str], list[int]] = {}
    for row in _attributed_orders(ds):
        entry = totals.setdefault((row["group_id"], row["buyer_user_id"]), [0, 0])
        entry[0] += row["contribution_fen"]
        entry[1] += 1
    return [{"group_id": g, "user_id": u, "contribution_fen": c, "attributed_orders": n}
            for (g, u), (c, n) in sorted(totals.items())]


def _members_at(group_id: str, instant: dt.datetime, ds: dt.date) -> int:
    return sum(
        1 for i in _intervals(ds)
        if i["group_id"] == group_id and i["joined_at"] <= instant
        and (i["left_at"] is None or i["left_at"] > instant)
    )


def _group_pools(ds: dt.date, draw_open: dt.datetime, min_members: int) -> list[dict]:
    pools: dict[str, list[int]] = {}
    for row in _member_contributions(ds):
        entry = pools.setdefault(row["group_id"], [0, 0])
        entry[0] += row["contribution_fen"]
        entry[1] += row["attributed_orders"]
    rows = []
    for g in GROUPS:
        pool, orders = pools.get(g.group_id, [0, 0])
        count = _members_at(g.group_id, draw_open, ds)
        valid = g.invalid_reason is None
        rows.append({
            "group_id": g.group_id, "creator_user_id": g.creator,
            "created_at": t("10-25 10:00"), "creator_gender": g.gender,
            "creator_naughty_value": 700, "peak_members_before_draw": count,
            "member_count_at_draw_open": count, "pool_fen": pool,
            "attributed_orders": orders, "is_valid": valid,
            "invalid_reason": g.invalid_reason,
            "is_eligible": valid and count >= min_members and pool > 0,
        })
    return rows


def _shares(ds: dt.date) -> list[dict]:
    """Each purchase's share lands with the purchase (the first fixture day at the earliest)."""
    rows = [
        {"share_id": f"s{n:03d}", "group_id": p.group_id, "sharer_user_id": p.sharer,
         "item_id": f"i{n:03d}", "shared_at": t("11-01 12:00"), "client_version": "8.1.0"}
        for n, p in enumerate(PURCHASES) if max(p.arrived, DAYS[0]) == ds
    ]
    if ds == DAYS[0]:
        rows += [{"share_id": f"s-unused-{n}", "group_id": "g05", "sharer_user_id": "w0",
                  "item_id": f"i-unused-{n}", "shared_at": t("11-02 12:00"),
                  "client_version": "8.1.0"} for n in range(UNCONVERTED_SHARES)]
    return rows


def _events(events: list[tuple], time_field: str, ds: dt.date) -> list[dict]:
    return [{"event_id": e, "group_id": g, "user_id": u, time_field: at}
            for e, g, u, at, arrived in events if arrived == ds]


def _with_landing(rows: list[dict], source: str, ds: dt.date) -> list[dict]:
    return [{**row, "row_hash": hashlib.sha256(repr(sorted(row.items())).encode()).hexdigest(),
             "file": f"{source}-{ds}.jsonl", "line": n + 1} for n, row in enumerate(rows)]


def tables_for(ds: dt.date, config: CampaignConfig) -> dict[str, list[dict]]:
    """Every table a run for ds writes, as rows (the freeze tables only up to the freeze)."""
    tables: dict[str, list[dict]] = {
        "groups": _with_landing(
            [{"group_id": g.group_id, "creator_user_id": g.creator,
              "name": GROUP_NAMES.get(g.group_id, f"Group {g.group_id}"),
              "created_at": t("10-25 10:00")} for g in GROUPS if ds == DAYS[0]],
            "groups", ds),
        "shares": _with_landing(_shares(ds), "shares", ds),
        "draws": _with_landing(_events(DRAWS, "drawn_at", ds), "draws", ds),
        "claims": _with_landing(_events(CLAIMS, "claimed_at", ds), "claims", ds),
        "quarantine": [
            {"source": s, "file": f, "line": n, "reason": r, "raw": raw}
            for q_ds, s, f, n, r, raw in QUARANTINE if q_ds == ds
        ],
        "ingest_report": [
            {"source": s, "rows": rows, "ingested": ok, "duplicates": dup, "bad": bad,
             "bad_rate": bad / rows, "max_bad_row_rate": config.max_bad_row_rate,
             "passed": bad / rows <= config.max_bad_row_rate}
            for r_ds, s, rows, ok, dup, bad in INGEST_REPORT if r_ds == ds
        ],
        "stray_files": [
            {"path": f"/landing/{s}/ds={ds}/{f}", "reason": r, "source": s, "file": f}
            for s_ds, s, f, r in STRAY_FILES if s_ds == ds
        ],
        "landing_changes": [
            {"arrival_ds": a_ds, "source": s, "file": f, "change": c}
            for run, a_ds, s, f, c in LANDING_CHANGES if run == ds
        ],
        "dq_results": [
            {"run_ds": ds, "stage": "landing", "suite": "landing",
             "table_name": f"lake.ingest_report ds={ds}",
             "expectation": "expect_column_values_to_be_between",
             "column_name": "ingest_report__bad_rate",
             "rule": "docs/rules.md §3 bad-row gate", "severity": "critical", "success": True,
             "observed_value": None,
             "element_count": None, "unexpected_count": 0, "unexpected_sample": None}
        ],
        "attribution/membership_intervals": _intervals(ds),
        "attribution/orphans": [
            {"source": source, "row_key": e, "parent_source": "groups", "parent_id": g,
             "arrival_ds": arrived}
            for source, events in (("draws", DRAWS), ("claims", CLAIMS))
            for e, g, _, _, arrived in events
            if g not in {x.group_id for x in GROUPS} and arrived <= ds
        ],
        "attribution/late_arrivals": [
            {"source": s, "row_key": k, "event_time": at, "arrival_ds": arrived}
            for s, k, at, arrived in LATE_ARRIVALS if arrived <= ds
        ],
    }
    if ds <= config.freeze_ds:
        tables["attribution/attributed_orders"] = _attributed_orders(ds)
        tables["attribution/member_contributions"] = _member_contributions(ds)
        tables["attribution/group_pools"] = _group_pools(
            ds, config.draw_open, config.group_min_members)
    return tables


def write_table(lake: Path, table: str, ds: dt.date, rows: list[dict]) -> Path:
    """One partition, as Spark would leave it: <lake>/<table>/ds=<ds>/part-00000.parquet."""
    schema = pa.schema(SCHEMAS[table])
    folder = lake / table / f"ds={ds.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def build_fixture_lake(lake: Path, config: CampaignConfig, days: list[dt.date] = DAYS) -> Path:
    """Write every table of every run date in `days` under `lake`."""
    for ds in days:
        for table, rows in tables_for(ds, config).items():
            write_table(lake, table, ds, rows)
    return lake


# ------------------------------------------------------------------ dbt runs on the fixture

LAST_DS = DAYS[-1]
MONEY_TESTS = (
    "assert_parts_sum_to_red_packet",
    "assert_no_part_above_red_packet",
    "assert_red_packet_is_min_of_pool_and_cap",
    "assert_at_most_k_winners",
    "assert_no_group_user_paid_twice",
    "assert_every_payout_has_a_split",
    "assert_winners_are_eligible",
    "assert_paid_and_forfeited_within_red_packet",
)


class DbtHarness:
    """The fixture lake, built once, and DuckDB warehouses built from it per run date.

    Every warehouse file is named warehouse.duckdb (in its own folder), so one parsed
    manifest serves every dbt invocation: dbt bakes the file's stem into relation names.
    """

    def __init__(self, root: Path, config: CampaignConfig) -> None:
        self.root = root
        self.config = fixture_config(config)
        self.lake = build_fixture_lake(root / "lake", self.config)
        self.manifest: Any = None
        self.built: dict[dt.date, Path] = {}
        self.timings: dict[str, float] = {}

    def dbt_args(self) -> list[str]:
        """dbt writes target/ and logs/ beside each warehouse (dbt_runner.dbt_work_dir)."""
        return ["--quiet"]

    def env(self, path: Path) -> dict[str, str]:
        return warehouse.dbt_env(self.lake, path)

    def parse(self) -> None:
        start = time.monotonic()
        result = warehouse.run_dbt(
            ["parse", "--vars", json.dumps(warehouse.build_vars(self.config, LAST_DS)),
             *self.dbt_args()],
            self.env(self.root / "parse" / "warehouse.duckdb"))
        self.timings["parse"] = time.monotonic() - start
        self.manifest = result.result

    def build(self, ds: dt.date) -> Path:
        """The DuckDB warehouse of run date ds (built on first use), as the nightly run
        builds it: the unit tests, which read no data, run once (test_dbt_project)."""
        if ds not in self.built:
            if self.manifest is None:
                self.parse()
            path = self.root / f"duckdb-{ds}" / "warehouse.duckdb"
            path.parent.mkdir(parents=True, exist_ok=True)
            start = time.monotonic()
            warehouse.build(self.config, ds, self.lake, warehouse=path, unit_tests=False,
                            extra_args=self.dbt_args(), manifest=self.manifest)
            self.timings[f"build {ds}"] = time.monotonic() - start
            self.built[ds] = path
        return self.built[ds]

    def copy_of(self, ds: dt.date, name: str) -> Path:
        """A private copy of the warehouse of ds, for tests that tamper with it."""
        source = self.build(ds)
        con = duckdb.connect(str(source))
        con.execute("checkpoint")
        con.close()
        path = self.root / f"copy-{name}" / "warehouse.duckdb"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        return path

    def failing_tests(self, path: Path, select: str, ds: dt.date = LAST_DS) -> set[str]:
        """Run `dbt test --select <select>` on a warehouse; the names of the failing tests
        (data tests and unit tests alike)."""
        result = warehouse.run_dbt(
            ["test", "--select", select,
             "--vars", json.dumps(warehouse.build_vars(self.config, ds)), *self.dbt_args()],
            self.env(path), check=False, manifest=self.manifest)
        if result.exception is not None:
            raise result.exception
        return {r.node.name for r in result.result.results if str(r.status) != "pass"}


CONTRACT_MARTS = ("fct_attributed_orders", "group_pools", "winner_list", "member_splits",
                  "payouts", "group_exclusions", "forfeitures")
# Two edits to a copy of the project that break the marts' contracts: a column's type
# (amount_fen becomes an integer) and a column's name (reason becomes forfeiture_reason).
CONTRACT_BREAKS = {
    "payouts": ("        amount_fen,\n", "        cast(amount_fen as integer) as amount_fen,\n"),
    "forfeitures": ("        reason,\n", "        reason as forfeiture_reason,\n"),
}


def project_breaking_contracts(root: Path) -> Path:
    """A copy of the dbt project under root whose payouts and forfeitures break their
    contracts (CONTRACT_BREAKS); the committed models stay as they are."""
    copy = root / "dbt-project"
    shutil.copytree(warehouse.DBT_PROJECT_DIR, copy,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    for model, (old, new) in CONTRACT_BREAKS.items():
        sql = copy / "models" / "marts" / f"{model}.sql"
        text = sql.read_text()
        assert text.count(old) == 1, f"{sql}: {old!r} no longer appears once; update the test"
        sql.write_text(text.replace(old, new))
    return copy


def query(path: Path, sql: str) -> list[dict]:
    """Rows of a read-only query on a DuckDB warehouse (as publish and export read it)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


_HARNESS: dict[str, DbtHarness] = {}


def shared_harness(tmp_path_factory, config: CampaignConfig) -> DbtHarness:
    """One harness per test session, whichever dbt test module asks first."""
    if "harness" not in _HARNESS:
        _HARNESS["harness"] = DbtHarness(tmp_path_factory.mktemp("dbt"), config)
    return _HARNESS["harness"]


def parsed_harness(tmp_path_factory, config: CampaignConfig) -> DbtHarness:
    """The shared harness with its manifest parsed, for the semantic layer's tests."""
    harness = shared_harness(tmp_path_factory, config)
    if harness.manifest is None:
        harness.parse()
    return harness


def execute(path: Path, statement: str) -> None:
    """Run one statement on a DuckDB warehouse and checkpoint, so dbt sees the change."""
    con = duckdb.connect(str(path))
    try:
        con.execute(statement)
        con.execute("checkpoint")
    finally:
        con.close()
