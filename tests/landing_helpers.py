"""Plain-Python readers of a landing zone and the docs/rules.md §4 rules the tests need, so the
generator's output is judged from its data alone, never from its own bookkeeping."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig
from grouprebate.contract import SOURCES
from grouprebate.landing import check_lines, split_lines
from tests.reference_rules import version_key


@dataclass(frozen=True)
class Line:
    """One landing line with where it arrived and what the contract made of it."""

    source: str
    ds: dt.date
    file: str
    lineno: int
    text: str
    record: dict[str, Any] | None
    reason: str | None

    @property
    def key(self) -> tuple:
        assert self.record is not None
        return tuple(self.record[k] for k in SOURCES[self.source].key)

    @property
    def event_time(self) -> dt.datetime:
        assert self.record is not None
        return self.record[SOURCES[self.source].event_time]


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file, by path relative to root."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in landing_files(root)}


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_text(path: Path) -> str:
    return read_bytes(path).decode("utf-8")


def read_landing(root: Path, config: CampaignConfig) -> dict[str, list[Line]]:
    """Every non-blank line of every source in arrival order (ds, then file name, then
    line), cut and judged as the contract's readers do."""
    out: dict[str, list[Line]] = {}
    for name, source in SOURCES.items():
        lines = []
        for folder in sorted((root / name).glob("ds=*")):
            ds = dt.date.fromisoformat(folder.name[3:])
            for path in sorted(folder.iterdir()):
                data = read_bytes(path)
                texts = list(split_lines([data], config.max_line_bytes))
                for i, checked in check_lines(source, [data], ds, config):
                    text = texts[i - 1][0].decode(errors="replace")
                    lines.append(Line(name, ds, path.name, i, text, checked.record,
                                      checked.reason))
        out[name] = lines
    return out


@dataclass
class Dedup:
    """First arrivals per key; later identical deliveries and later conflicting ones."""

    first: dict[tuple, Line] = field(default_factory=dict)
    duplicates: list[tuple[Line, Line]] = field(default_factory=list)
    conflicts: list[tuple[Line, Line]] = field(default_factory=list)


def dedup(lines: list[Line]) -> Dedup:
    d = Dedup()
    for line in lines:
        if line.record is None:
            continue
        first = d.first.get(line.key)
        if first is None:
            d.first[line.key] = line
        elif first.record == line.record:
            d.duplicates.append((first, line))
        else:
            d.conflicts.append((first, line))
    return d


class Campaign:
    """The deduplicated campaign with the docs/rules.md §4 rules evaluated over all arrivals
    (the freeze is the pipeline's business; here we look for situations)."""

    def __init__(self, lines: dict[str, list[Line]], config: CampaignConfig) -> None:
        self.lines, self.config = lines, config
        self.dedup = {name: dedup(ls) for name, ls in lines.items()}
        self.draw_open = config.draw_open
        self.window = config.claim_window

    def records(self, source: str) -> list[dict[str, Any]]:
        return [line.record for line in self.dedup[source].first.values()]

    def arrivals(self, source: str) -> list[Line]:
        return list(self.dedup[source].first.values())

    @cached_property
    def groups(self) -> dict[str, dict]:
        return {r["group_id"]: r for r in self.records("groups")}

    @cached_property
    def orders(self) -> dict[str, dict]:
        return {r["order_id"]: r for r in self.records("orders")}

    @cached_property
    def payments_by_order(self) -> dict[str, list[dict]]:
        return _by(self.records("payments"), "order_id", ("paid_at", "payment_id"))

    @cached_property
    def refunds_by_order(self) -> dict[str, list[dict]]:
        return _by(self.records("refunds"), "order_id", ("refunded_at", "refund_id"))

    @cached_property
    def profiles(self) -> dict[str, list[dict]]:
        return _by(self.records("users"), "user_id", ("valid_from",))

    @cached_property
    def membership_events(self) -> dict[str, list[dict]]:
        return _by(self.records("memberships"), "group_id", ("event_time", "event_id"))

    @cached_property
    def shares_by_group_item(self) -> dict[tuple[str, str], list[dict]]:
        out: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for s in self.records("shares"):
            out[(s["group_id"], s["item_id"])].append(s)
        return out

    @cached_property
    def groups_of_user(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for r in self.records("memberships"):
            out[r["user_id"]].add(r["group_id"])
        return out

    def profile_at(self, user: str, t: dt.datetime) -> dict | None:
        current = None
        for p in self.profiles.get(user, []):
            if p["valid_from"] <= t:
                current = p
        return current

    def eligible(self, profile: dict | None) -> bool:
        c = self.config
        return profile is not None and (profile["gender"] == c.creator_gender
                                        and profile["naughty_value"] >= c.creator_min_naughty_value)

    def members_at(self, group: str, t: dt.datetime) -> set[str]:
        """Members per docs/rules.md §4: the latest event at or before t (ties by event_id)
        is a join."""
        state: dict[str, str] = {}
        for e in self.membership_events.get(group, []):
            if e["event_time"] > t:
                break
            state[e["user_id"]] = e["action"]
        return {u for u, action in state.items() if action == "join"}

    def is_member(self, group: str, user: str, t: dt.datetime) -> bool:
        return user in self.members_at(group, t)

    def peak_members(self, group: str, until: dt.datetime) -> int:
        """The largest member count at any instant up to `until`."""
        state: dict[str, str] = {}
        peak = 0
        for e in self.membership_events.get(group, []):
            if e["event_time"] > until:
                break
            state[e["user_id"]] = e["action"]
            peak = max(peak, sum(1 for a in state.values() if a == "join"))
        return peak

    def first_payment(self, order_id: str) -> dict | None:
        payments = self.payments_by_order.get(order_id)
        return payments[0] if payments else None

    def new_enough(self, version: str) -> bool:
        return version_key(version) >= version_key(self.config.min_client_version)

    def qualifying_shares(self, order: dict, p: dt.datetime,
                          skip: frozenset[int] = frozenset()) -> list[dict]:
        """Shares that attribute the order per docs/rules.md §4, ignoring the clauses in `skip`."""
        c = self.config
        if 1 not in skip and not c.accumulation_start <= p < c.accumulation_end:
            return []
        if 2 not in skip and not self.new_enough(order["client_version"]):
            return []
        buyer, out = order["buyer_user_id"], []
        for group in self.groups_of_user.get(buyer, ()):
            if 3 not in skip and not self.is_member(group, buyer, p):
                continue
            for s in self.shares_by_group_item.get((group, order["item_id"]), []):
                if s["shared_at"] <= p and (4 in skip or (
                        s["sharer_user_id"] != buyer
                        and self.is_member(group, s["sharer_user_id"], s["shared_at"])
                        and self.new_enough(s["client_version"]))):
                    out.append(s)
        return out

    def winning_share(self, shares: list[dict]) -> dict:
        """Last touch; ties to the smallest share_id."""
        latest = max(s["shared_at"] for s in shares)
        return min((s for s in shares if s["shared_at"] == latest), key=lambda s: s["share_id"])

    @cached_property
    def attributed(self) -> dict[str, tuple[dict, dict]]:
        """order_id -> (order, winning share) for every attributed order."""
        out = {}
        for oid, order in self.orders.items():
            first = self.first_payment(oid)
            if first is None:
                continue
            shares = self.qualifying_shares(order, first["paid_at"])
            if shares:
                out[oid] = (order, self.winning_share(shares))
        return out

    def contribution(self, order_id: str) -> int:
        d = self.draw_open
        paid = sum(p["amount_fen"] for p in self.payments_by_order.get(order_id, [])
                   if p["paid_at"] <= d)
        refunded = sum(r["amount_fen"] for r in self.refunds_by_order.get(order_id, [])
                       if r["refunded_at"] <= d)
        return max(0, paid - refunded)

    @cached_property
    def pools(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for oid, (_, share) in self.attributed.items():
            out[share["group_id"]] += self.contribution(oid)
        return dict(out)

    @cached_property
    def draws_by_group(self) -> dict[str, list[dict]]:
        return _by(self.records("draws"), "group_id", ("drawn_at", "event_id"))

    @cached_property
    def claims_by_group(self) -> dict[str, list[dict]]:
        return _by(self.records("claims"), "group_id", ("claimed_at", "event_id"))

    @cached_property
    def triggers(self) -> dict[str, dt.datetime]:
        """group -> its first draw at/after draw_open by a member (any time, even late)."""
        out = {}
        for group, draws in self.draws_by_group.items():
            for d in draws:
                if d["drawn_at"] >= self.draw_open and self.is_member(group, d["user_id"],
                                                                      d["drawn_at"]):
                    out[group] = d["drawn_at"]
                    break
        return out


def _by(records: list[dict], key: str, order: tuple[str, ...]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        out[r[key]].append(r)
    for rows in out.values():
        rows.sort(key=lambda r: tuple(r[k] for k in order))
    return dict(out)
