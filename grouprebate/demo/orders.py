"""One group's purchases: orders by members (and others) of items shared into the
group, paid in one go, in parts, or as presale deposit plus balance, and refunded
in full, in part, or now and then by more than was paid.

First payments peak on the last accumulation day; a few are pinned exactly on the
window's edges or right after two tied shares, so those cases always exist.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import TYPE_CHECKING

from grouprebate.demo.landing_files import (
    MINUTE,
    MS_DAY,
    MS_HOUR,
    MS_SECOND,
    ORDERS,
    PAYMENTS,
    REFUNDS,
)

if TYPE_CHECKING:
    from grouprebate.demo.group import GroupSim, Share


class Purchases:
    """Writes the orders, payments and refunds of one simulated group."""

    def __init__(self, g: GroupSim) -> None:
        self.c, self.rng, self.em, self.world, self.gi = g.c, g.rng, g.em, g.world, g.gi
        self.created, self.pre, self.price_factor = g.created, g.pre, g.price_factor
        self.shares, self.share_times, self.tie = g.shares, g.share_times, g.tie
        self.rand, self.pick, self.is_member, self.members_at = (
            g.rand, g.pick, g.is_member, g.members_at)
        self.freeze_late = self.rng.random() < 0.1  # one pre-draw payment lands after the freeze

    def place(self) -> None:
        """Write the orders with their payments and refunds, plus a few pinned ones."""
        rng, c = self.rng, self.c
        count = min(9000, int(len(self.pre) * 11 * (0.3 + rng.random() * 1.4)))
        for k in range(count):
            self._order(k)
        forced = []
        if rng.random() < 0.08:
            forced.append(self._qualifying(c.acc_start))
        if rng.random() < 0.08:
            forced.append(self._qualifying(c.acc_end))
        if self.tie is not None:
            tied = self.tie
            p = max(tied.t, c.acc_start) + MINUTE * (1 + int(rng.random() * 60))
            forced.append(self._qualifying(p, tied) if p < c.acc_end else None)
        for k, spec in enumerate(forced, start=count):
            if spec is not None:
                self._order(k, *spec)

    def _qualifying(self, p: int, share: Share | None = None) -> tuple[int, int, int] | None:
        """(first payment, buyer, item) of an order that meets every attribution clause
        except perhaps the window: used to pin payments exactly on its boundaries."""
        shares = [share] if share else [s for s in self.shares if s.qualifies and s.t <= p]
        if not shares:
            return None
        s = self.pick(shares)
        tied = {x.user for x in self.shares if x.t == s.t and x.item == s.item}
        buyers = [u for u in self.members_at(p) if u not in tied]
        return (p, self.pick(buyers), s.item) if buyers else None

    def _order(self, k: int, p: int = -1, buyer: int = -1, item: int = -1) -> None:
        """Write order k; a given first payment p (with buyer and item) pins a single
        payment there from a new app, so only the window decides attribution."""
        c, rng, em = self.c, self.rng, self.em
        forced = p >= 0
        plan = "single" if forced else self._payment_plan()
        if not forced:
            p = self._presale_time() if plan == "presale" else self._pay_time()
            buyer, item = self._buyer_item(p)
        qty = 1 if rng.random() < 0.85 else 2 + int(rng.random() * 2)
        total = self.world.price(item) * self.price_factor * qty
        old = not forced and c.old_versions and rng.random() < 0.12
        version = self.pick(c.old_versions if old else c.new_versions)
        oid = f"o{self.gi:08d}{k:04d}"
        payments = self._payments(plan, p, total)
        first_day = self._emit_payments(k, oid, payments)
        # Created shortly before its first payment, and never before the calendar opens:
        # only a profile may predate the campaign (the landing gate's calendar bound).
        created = max(p - self.rand(10 * MS_SECOND, 20 * MINUTE), c.cal_start)
        day = -1
        if first_day >= 0 and rng.random() < 0.01:  # the payment lands before its order
            day = min(first_day + 1 + int(rng.random() * 3), c.last_day)
        em.emit(ORDERS, f'{{"order_id":"{oid}","buyer_user_id":"u{buyer:09d}",'
                f'"item_id":"i{item:08d}","seller_id":"{self.world.seller(item)}",'
                f'"total_fen":{total},"created_at":"{em.ts(created)}",'
                f'"client_version":"{version}"}}', created, day)
        r = rng.random()
        if payments and r < 0.084:
            self._refund(k, oid, payments, r)

    def _payment_plan(self) -> str:
        """How the order is paid; a few orders are never paid at all."""
        r = self.rng.random()
        return ("unpaid" if r < 0.03 else "presale" if r < 0.13 else "multi" if r < 0.19
                else "tie" if r < 0.21 else "single")

    def _pay_time(self) -> int:
        """First payment: a strong peak on the last accumulation day, most of the rest
        inside the window, some before it and some after it."""
        c, r = self.c, self.rng.random()
        if r < 0.45:  # front-loaded: the first minutes of the day are the busiest
            t = c.peak_start + int(self.rng.random() ** 2.2 * MS_DAY)
            return t - t % MS_SECOND
        if r < 0.83:
            return self.rand(max(c.acc_start, self.created), c.acc_end)
        if r < 0.93 and self.created < c.acc_start:
            return self.rand(self.created, c.acc_start)
        if r < 0.93:
            return self.rand(c.acc_start, c.acc_end)
        return self.rand(c.acc_end, c.draw_open + 2 * MS_DAY)

    def _presale_time(self) -> int:
        """Presale deposits: paid before the window or early in it, balance on the peak day."""
        c = self.c
        if self.rng.random() < 0.4 and self.created < c.acc_start:
            return self.rand(self.created, c.acc_start)
        return self.rand(c.acc_start, c.peak_start)

    def _buyer_item(self, p: int) -> tuple[int, int]:
        rng = self.rng
        idx = bisect_right(self.share_times, p)
        r = rng.random()
        if idx and r < 0.03:  # the sharer buys their own share
            s = self.shares[idx - 1 - int(rng.random() ** 2 * idx)]
            return s.user, s.item
        buyer = self._buyer_at(p)
        if idx and r < 0.82:
            return buyer, self.shares[idx - 1 - int(rng.random() ** 2 * idx)].item
        return buyer, self.world.item(rng)

    def _buyer_at(self, p: int) -> int:
        """Mostly a member present at p; sometimes an outsider or an absent member."""
        if self.rng.random() < 0.06:
            return self.world.user(self.rng)
        user = self.pick(self.pre)
        for _ in range(2):
            if self.is_member(user, p):
                break
            user = self.pick(self.pre)
        return user

    def _payments(self, plan: str, p: int, total: int) -> list[tuple[int, int, int]]:
        """(stage, amount, paid_at) of an order: one payment, a presale deposit and
        balance, one stage split in 2-3 parts, or two parts paid at the same instant."""
        rng, c = self.rng, self.c
        if plan == "unpaid":
            return []
        if plan == "presale":
            deposit = max(1, total // 5)
            if rng.random() < 0.15:
                balance_at = self.rand(c.draw_open + MS_HOUR, c.draw_open + 2 * MS_DAY)
            else:
                balance_at = max(self.rand(c.peak_start, c.peak_start + 20 * MS_HOUR),
                                 p + MS_HOUR)
            return [(1, deposit, p), (2, total - deposit, balance_at)]
        if plan in ("multi", "tie") and total >= 3:
            parts, t = [], p
            for amount in _split(rng, total, 2 if plan == "tie" or rng.random() < 0.7 else 3):
                parts.append((1, amount, t))
                t += 0 if plan == "tie" else self.rand(MINUTE, 3 * MS_HOUR)
            return parts
        return [(1, total, p)]

    def _emit_payments(self, k: int, oid: str, payments: list[tuple[int, int, int]]) -> int:
        """Write the payments; return the arrival day of the first one (-1 if none)."""
        em, c = self.em, self.c
        first_day = -1
        for j, (stage, amount, t) in enumerate(payments):
            day = -1
            if self.freeze_late and t < c.draw_open:  # lands after the freeze
                self.freeze_late = False
                day = min(c.freeze_day + 1 + int(self.rng.random() * 3), c.last_day)
            day = em.emit(PAYMENTS, f'{{"payment_id":"p{self.gi:08d}{k:04d}{j}",'
                          f'"order_id":"{oid}","stage":{stage},"amount_fen":{amount},'
                          f'"paid_at":"{em.ts(t)}"}}', t, day)
            if j == 0:
                first_day = day
        return first_day

    def _refund(self, k: int, oid: str, payments: list[tuple[int, int, int]], r: float) -> None:
        """Full or partial refunds (r < 0.084), before or after draw_open; rarely more
        than was paid by draw_open (a refund with compensation), which contributes zero."""
        rng, c = self.rng, self.c
        paid = sum(a for _, a, _ in payments)
        first, last = payments[0][2], max(t for _, _, t in payments)
        if r < 0.004 and first + MS_HOUR < c.draw_open:
            amounts = [paid + 100 + int(rng.random() * 1900)]
            t = self.rand(first + MS_HOUR, c.draw_open)
        else:
            full = rng.random() < 0.5 or paid < 2
            amount = paid if full else 1 + int(rng.random() * (paid - 1))
            if rng.random() < 0.6 and last + MS_HOUR < c.draw_open:
                t = self.rand(last + MS_HOUR, c.draw_open)
            else:
                start = max(last, c.draw_open) + MS_HOUR
                t = self.rand(start, start + 7 * MS_DAY)
            amounts = _split(rng, amount, 2) if amount >= 2 and rng.random() < 0.15 else [amount]
        for j, amount in enumerate(amounts):
            at = t + j * self.rand(MS_HOUR, 2 * MS_DAY)
            self.em.emit(REFUNDS, f'{{"refund_id":"r{self.gi:08d}{k:04d}{j}",'
                         f'"order_id":"{oid}","amount_fen":{amount},'
                         f'"refunded_at":"{self.em.ts(at)}"}}', at)


def _split(rng: random.Random, total: int, n: int) -> list[int]:
    """n positive amounts summing to total (total >= n)."""
    parts = []
    for left in range(n, 1, -1):
        part = 1 + int(rng.random() * (total - left))
        parts.append(part)
        total -= part
    return parts + [total]

