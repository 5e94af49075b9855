"""One little black group's life, simulated from its own RNG: creation, members and
churn, shares, orders with their payments and refunds, draw-page opens and claims.

Each group is simulated and written out before the next starts, so memory stays flat.
Rare situations the pipeline must handle (SPEC §4 edge cases) are group features
drawn with fixed probabilities, high enough that a campaign of ~150 groups has each.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

from grouprebate.generator_emit import Emitter
from grouprebate.generator_io import MS_DAY, MS_HOUR, MS_SECOND
from grouprebate.generator_world import World

MINUTE = 60_000
NEVER = 1 << 62
USERS, GROUPS, MEMBERSHIPS, SHARES, ORDERS, PAYMENTS, REFUNDS, DRAWS, CLAIMS = range(9)
NAMES = ("小黑群", "剁手姐妹团", "双11冲鸭", "宿舍拼单", "Team 回血", "家人们", "同事福利群",
         "省钱小分队", 'the "best" group 🎁', "mamá & co")


@dataclass(frozen=True)
class Campaign:
    """Rule instants of the campaign config in epoch ms, shared by every group."""

    world: World
    emitter: Emitter
    new_versions: list[str]
    old_versions: list[str]
    cal_start: int
    acc_start: int
    acc_end: int
    draw_open: int
    window: int
    end: int
    freeze_day: int
    last_day: int
    min_members: int
    max_members: int

    @property
    def peak_start(self) -> int:
        """The last accumulation day (Nov 11 in 2018) carries the purchase peak."""
        return self.acc_end - MS_DAY


@dataclass(slots=True)
class Share:
    t: int
    user: int
    item: int
    version: str
    qualifies: bool  # sharer was a member at t and the app was new enough


class GroupSim:
    """Simulates and writes out one group; see the module docstring."""

    def __init__(self, c: Campaign, gi: int, rng: random.Random) -> None:
        self.c, self.gi, self.rng = c, gi, rng
        self.em, self.world = c.emitter, c.world
        self.gid = f"g{gi:08d}"
        self.spans: dict[int, list[list[int]]] = {}
        self.shares: list[Share] = []
        self.share_times: list[int] = []
        self.pre: list[int] = []
        self.created = self.creator = 0
        self.trigger: int | None = None
        self.drawer = self.leaver = self.late_joiner = self.sole_buyer = -1
        self.tie: Share | None = None
        self.price_factor = 8 if rng.random() < 0.05 else 1
        self.freeze_late = rng.random() < 0.1

    def run(self) -> None:
        self._create()
        self._join_members()
        self._plan_trigger()
        self._leave_before_trigger()
        self._join_after_draw()
        self._share_items()
        self._place_orders()
        self._open_draws()
        self._claim()
        self._emit_group()
        self._emit_memberships()

    # --- time and membership helpers -------------------------------------------------

    def _rand(self, lo: int, hi: int) -> int:
        """A random instant in [lo, hi): whole seconds mostly, milliseconds sometimes."""
        t = lo + int(self.rng.random() * (hi - lo))
        if self.rng.random() < 0.96:
            t += -t % MS_SECOND
        return t if t < hi else lo

    def _is_member(self, user: int, t: int) -> bool:
        return any(j <= t < leave for j, leave in self.spans.get(user, ()))

    def _members_at(self, t: int) -> list[int]:
        return [u for u, spans in self.spans.items() if any(j <= t < x for j, x in spans)]

    def _pick(self, items: list):
        return items[int(self.rng.random() * len(items))]

    def _outsider(self) -> int:
        """A user who is not (and never was) in this group."""
        user = self.world.user(self.rng)
        while user in self.spans:
            user = self.world.user(self.rng)
        return user

    # --- creation and members --------------------------------------------------------

    def _create(self) -> None:
        c, r = self.c, self.rng.random()
        if r < 0.25:  # launch-day burst
            created = self._rand(c.cal_start, c.cal_start + MS_DAY)
        elif r < 0.8 or c.acc_end - 3 * MS_DAY <= c.acc_start:
            created = self._rand(c.cal_start, c.acc_start)
        else:
            created = self._rand(c.acc_start, c.acc_end - 3 * MS_DAY)
        self.created = created - created % MS_SECOND
        self.creator = self._pick_creator()
        self.spans[self.creator] = [[self.created, NEVER]]

    def _pick_creator(self) -> int:
        """Mostly eligible creators; some ineligible at creation, some whose profile
        changes after creation (which must not matter)."""
        r = self.rng.random()
        want = ("eligible" if r < 0.86 else "lost_later" if r < 0.9 else
                "gained_later" if r < 0.93 else "gender" if r < 0.98 else "low")
        other_gender = self._pick([g for g in ("F", "M", "U") if g != self.world.creator_gender])
        user = 0
        for _ in range(400):
            user = self.world.user(self.rng)
            if self._creator_fits(want, user, other_gender):
                break
        return user

    def _creator_fits(self, want: str, user: int, other_gender: str) -> bool:
        w = self.world
        versions = w.profiles(user)
        now = w.profile_at(versions, self.created)
        if now is None:
            return False
        later = [v for v in versions if v[0] > self.created]
        if want == "eligible":
            return w.eligible(now)
        if want == "lost_later":
            return w.eligible(now) and any(not w.eligible(v) for v in later)
        if want == "gained_later":
            return not w.eligible(now) and any(w.eligible(v) for v in later)
        if want == "gender":
            return now[1] == other_gender
        return now[1] == w.creator_gender and now[2] < w.min_naughty

    def _join_members(self) -> None:
        """4-15 members mostly; some groups fill up to exactly the maximum, some exceed it
        for a while before draw_open, some stay below the minimum."""
        c, rng = self.c, self.rng
        r = rng.random()
        mode = "exceed" if r < 0.05 else "full" if r < 0.13 else "small" if r < 0.2 else ""
        if mode == "exceed":
            size = c.max_members + 1 + int(rng.random() * 2)
        elif mode == "full":
            size = c.max_members
        elif mode == "small":
            size = max(2, c.min_members - 1 - int(rng.random() * 2))
        else:
            size = c.min_members + int(rng.random() ** 1.6 * (c.max_members - c.min_members + 1))
        share = 0.6 if mode in ("exceed", "full") else 1.0
        join_end = self.created + int((c.draw_open - MS_HOUR - self.created) * share)
        for _ in range(size - 1):
            user = self._outsider()
            # Friends mostly join within a day of the invitation; stragglers much later.
            spread = MS_DAY if rng.random() < 0.7 else join_end - self.created
            j = self.created + int(rng.random() ** 2 * min(spread, join_end - self.created))
            self.spans[user] = [[j - j % MS_SECOND + MS_SECOND, NEVER]]
        last_join = max(s[0][0] for s in self.spans.values())
        others = list(self.spans)[1:]
        if mode == "exceed":
            for user in others[: size - c.max_members + int(rng.random() * 2)]:
                self.spans[user][0][1] = self._rand(last_join + MINUTE, c.draw_open - MS_HOUR)
        else:
            for user in others:
                self._churn(user, last_join if mode == "full" else self.spans[user][0][0])

    def _churn(self, user: int, not_before: int) -> None:
        """Some members leave; about half of those rejoin later."""
        if self.rng.random() >= 0.12:
            return
        span = self.spans[user][0]
        leave = self._rand(not_before + 10 * MINUTE, self.c.draw_open + 2 * MS_DAY)
        span[1] = leave
        if self.rng.random() < 0.45:
            self.spans[user].append([self._rand(leave + 10 * MINUTE, leave + 3 * MS_DAY), NEVER])

    # --- the draw page: trigger plan and churn around it -----------------------------

    def _plan_trigger(self) -> None:
        """When a member first opens the draw page: at draw_open, soon, late in the
        claim window, after it (too late), or never."""
        c, r, w = self.c, self.rng.random(), self.c.window
        d = c.draw_open
        if r < 0.08:
            t = d
        elif r < 0.55:
            t = self._rand(d + MS_SECOND, d + w // 20)
        elif r < 0.75:
            t = self._rand(d + w // 20, d + w * 8 // 10)
        elif r < 0.84:
            t = self._rand(d + w * 8 // 10, d + w - MINUTE)
        elif r < 0.93:
            t = self._rand(d + w + MS_HOUR, d + w * 16 // 10)
        else:
            return
        present = self._members_at(t)
        if present:
            self.trigger, self.drawer = t, self._pick(present)

    def _leave_before_trigger(self) -> None:
        """A member present through accumulation leaves just before the trigger; now and
        then they are the group's only buyer, so the splitters contributed nothing."""
        c, t = self.c, self.trigger
        if t is None or self.rng.random() >= 0.25:
            return
        candidates = [u for u in self._members_at(t) if u not in (self.creator, self.drawer)
                      and self.spans[u][0][0] < c.acc_start]
        if not candidates:
            return
        user = self._pick(candidates)
        span = next(s for s in self.spans[user] if s[0] <= t < s[1])
        if t - c.draw_open > MINUTE:
            span[1] = self._rand(c.draw_open, t)
        else:
            span[1] = self._rand(max(span[0] + MINUTE, c.draw_open - 3 * MS_HOUR), t)
        self.leaver = user
        if self.rng.random() < 0.2:
            self.sole_buyer = user

    def _join_after_draw(self) -> None:
        if self.rng.random() >= 0.3:
            return
        base = self.trigger if self.trigger and self.rng.random() < 0.7 else self.c.draw_open
        self.late_joiner = self._outsider()
        self.spans[self.late_joiner] = [[self._rand(base + MINUTE, base + 3 * MS_DAY), NEVER]]

    # --- shares ----------------------------------------------------------------------

    def _share_items(self) -> None:
        c, rng = self.c, self.rng
        self.pre = [u for u, spans in self.spans.items() if spans[0][0] < c.draw_open]
        count = max(2, int(len(self.pre) * (1.2 + rng.random() * 2.6)))
        old_rate = 1.0 if rng.random() < 0.03 and c.old_versions else 0.08
        for _ in range(min(count, 9000)):
            user, t = self._share_moment()
            if self.shares and rng.random() < 0.25:
                item = self._pick(self.shares).item  # re-shared: several touches per item
            else:
                item = self.world.item(rng)
            old = c.old_versions and rng.random() < old_rate
            version = self._pick(c.old_versions if old else c.new_versions)
            self.shares.append(Share(t, user, item, version,
                                     not old and self._is_member(user, t)))
        if rng.random() < 0.12:
            self._tie_share()
        self.shares.sort(key=lambda s: s.t)
        self.share_times = [s.t for s in self.shares]
        self._emit_shares()

    def _share_moment(self) -> tuple[int, int]:
        """Who shares when: a member during their membership, now and then not a member."""
        user = self._pick(self.pre)
        j, leave = self.spans[user][0]
        if self.rng.random() < 0.04:
            if j - self.created > 10 * MINUTE:
                return user, self._rand(self.created, j)
            if leave != NEVER:
                return user, self._rand(leave, leave + MS_DAY)
            return self._outsider(), self._rand(self.created, self.c.acc_end)
        hi = min(leave, self.c.acc_end)
        return user, (self._rand(j, hi) if hi > j else j)

    def _tie_share(self) -> None:
        """Another member shares the same item at the very same instant (tie -> share_id)."""
        qualifying = [s for s in self.shares if s.qualifies]
        if not qualifying:
            return
        first = self._pick(qualifying)
        others = [u for u in self._members_at(first.t) if u != first.user]
        if others:
            self.tie = first
            self.shares.append(Share(first.t, self._pick(others), first.item,
                                     self._pick(self.c.new_versions), True))

    def _emit_shares(self) -> None:
        em, gid = self.em, self.gid
        for k, s in enumerate(self.shares):
            em.emit(SHARES, f'{{"share_id":"sh{self.gi:08d}{k:04d}","group_id":"{gid}",'
                    f'"sharer_user_id":"u{s.user:09d}","item_id":"i{s.item:08d}",'
                    f'"shared_at":"{em.ts(s.t)}","client_version":"{s.version}"}}', s.t)

    # --- orders, payments, refunds ---------------------------------------------------

    def _place_orders(self) -> None:
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
        s = self._pick(shares)
        tied = {x.user for x in self.shares if x.t == s.t and x.item == s.item}
        buyers = [u for u in self._members_at(p) if u not in tied]
        return (p, self._pick(buyers), s.item) if buyers else None

    def _order(self, k: int, p: int = -1, buyer: int = -1, item: int = -1) -> None:
        c, rng, em = self.c, self.rng, self.em
        forced = p >= 0
        plan = "single" if forced else self._payment_plan()
        if not forced:
            p = self._presale_time() if plan == "presale" else self._pay_time()
            buyer, item = self._buyer_item(p)
        qty = 1 if rng.random() < 0.85 else 2 + int(rng.random() * 2)
        total = self.world.price(item) * self.price_factor * qty
        old = not forced and c.old_versions and rng.random() < 0.12
        version = self._pick(c.old_versions if old else c.new_versions)
        oid = f"o{self.gi:08d}{k:04d}"
        payments = self._payments(plan, p, total)
        first_day = self._emit_payments(k, oid, payments)
        created = p - self._rand(10 * MS_SECOND, 20 * MINUTE)
        day = -1
        if first_day >= 0 and rng.random() < 0.01:  # the payment lands before its order
            day = min(first_day + 1 + int(rng.random() * 3), c.last_day)
        em.emit(ORDERS, f'{{"order_id":"{oid}","buyer_user_id":"u{buyer:09d}",'
                f'"item_id":"i{item:08d}","seller_id":"{self.world.seller(item)}",'
                f'"total_fen":{total},"created_at":"{em.ts(created)}",'
                f'"client_version":"{version}"}}', created, day)
        if payments:
            self._refund(k, oid, payments)

    def _payment_plan(self) -> str:
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
            return self._rand(max(c.acc_start, self.created), c.acc_end)
        if r < 0.93 and self.created < c.acc_start:
            return self._rand(self.created, c.acc_start)
        if r < 0.93:
            return self._rand(c.acc_start, c.acc_end)
        return self._rand(c.acc_end, c.draw_open + 2 * MS_DAY)

    def _presale_time(self) -> int:
        """Presale deposits: paid before the window or early in it, balance on the peak day."""
        c = self.c
        if self.rng.random() < 0.4 and self.created < c.acc_start:
            return self._rand(self.created, c.acc_start)
        return self._rand(c.acc_start, c.peak_start)

    def _buyer_item(self, p: int) -> tuple[int, int]:
        rng = self.rng
        idx = bisect_right(self.share_times, p)
        r = rng.random()
        if idx and r < 0.03 and self.sole_buyer < 0:  # the sharer buys their own share
            s = self.shares[idx - 1 - int(rng.random() ** 2 * idx)]
            return s.user, s.item
        buyer = self.sole_buyer if self.sole_buyer >= 0 else self._buyer_at(p)
        if idx and r < 0.82:
            return buyer, self.shares[idx - 1 - int(rng.random() ** 2 * idx)].item
        return buyer, self.world.item(rng)

    def _buyer_at(self, p: int) -> int:
        """Mostly a member present at p; sometimes an outsider or an absent member."""
        if self.rng.random() < 0.06:
            return self.world.user(self.rng)
        user = self._pick(self.pre)
        for _ in range(2):
            if self._is_member(user, p):
                break
            user = self._pick(self.pre)
        return user

    def _payments(self, plan: str, p: int, total: int) -> list[tuple[int, int, int]]:
        """(stage, amount, paid_at) of an order: one payment, a presale deposit and
        balance, one stage split in parts, or two parts paid at the same instant."""
        rng, c = self.rng, self.c
        if plan == "unpaid":
            return []
        if plan == "presale":
            deposit = max(1, total // 5)
            if rng.random() < 0.15:
                balance_at = self._rand(c.draw_open + MS_HOUR, c.draw_open + 2 * MS_DAY)
            else:
                balance_at = max(self._rand(c.peak_start, c.peak_start + 20 * MS_HOUR),
                                 p + MS_HOUR)
            return [(1, deposit, p), (2, total - deposit, balance_at)]
        if plan in ("multi", "tie") and total >= 3:
            cut = 1 + int(rng.random() * (total - 2))
            later = p if plan == "tie" else p + self._rand(MINUTE, 3 * MS_HOUR)
            return [(1, cut, p), (1, total - cut, later)]
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

    def _refund(self, k: int, oid: str, payments: list[tuple[int, int, int]]) -> None:
        """Full or partial refunds, before or after draw_open; rarely more than was paid
        by draw_open (a refund with compensation), which contributes zero, not less."""
        rng, c = self.rng, self.c
        paid = sum(a for _, a, _ in payments)
        first, last = payments[0][2], max(t for _, _, t in payments)
        r = rng.random()
        if r < 0.004 and first + MS_HOUR < c.draw_open:
            amounts = [paid + 100 + int(rng.random() * 1900)]
            t = self._rand(first + MS_HOUR, c.draw_open)
        elif r < 0.084:
            full = rng.random() < 0.5 or paid < 2
            amount = paid if full else 1 + int(rng.random() * (paid - 1))
            if rng.random() < 0.6 and last + MS_HOUR < c.draw_open:
                t = self._rand(last + MS_HOUR, c.draw_open)
            else:
                start = max(last, c.draw_open) + MS_HOUR
                t = self._rand(start, start + 7 * MS_DAY)
            cut = 1 + int(rng.random() * (amount - 1)) if amount >= 2 else 0
            amounts = [cut, amount - cut] if cut and rng.random() < 0.15 else [amount]
        else:
            return
        for j, amount in enumerate(amounts):
            at = t + j * self._rand(MS_HOUR, 2 * MS_DAY)
            self.em.emit(REFUNDS, f'{{"refund_id":"r{self.gi:08d}{k:04d}{j}",'
                         f'"order_id":"{oid}","amount_fen":{amount},'
                         f'"refunded_at":"{self.em.ts(at)}"}}', at)

    # --- draws and claims ------------------------------------------------------------

    def _open_draws(self) -> None:
        """Draw-page opens: the trigger, members peeking before draw_open, non-members
        opening it first, and other members after the trigger."""
        c, rng, t = self.c, self.rng, self.trigger
        events = [(t, self.drawer)] if t is not None else []
        if rng.random() < 0.35:
            events.append((self._rand(c.draw_open - 20 * MS_HOUR, c.draw_open),
                           self._pick(self.pre)))
        hi = t if t is not None else c.draw_open + 2 * MS_DAY
        if rng.random() < 0.3 and hi > c.draw_open:
            at = self._rand(c.draw_open, hi)
            events.append((at, self._non_member_at(at)))
        if t is not None and rng.random() < 0.5:
            for _ in range(1 + int(rng.random() * 3)):
                events.append((self._rand(t, t + 2 * MS_DAY), self._pick(list(self.spans))))
        self._emit_events(DRAWS, "d", "drawn_at", events)

    def _non_member_at(self, t: int) -> int:
        absent = [u for u in self.spans if not self._is_member(u, t)]
        return self._pick(absent) if absent and self.rng.random() < 0.5 else self._outsider()

    def _claim(self) -> None:
        """Claims by splitters inside the window (on both edges), too late and too early,
        twice, and by non-splitters; untriggered groups get stray claims too."""
        c, rng, t = self.c, self.rng, self.trigger
        events: list[tuple[int, int]] = []
        if t is not None and t <= c.draw_open + c.window:
            for user in self._members_at(t):
                at = self._claim_time(t)
                if at >= 0:
                    events.append((at, user))
                    if rng.random() < 0.12:
                        events.append((at + self._rand(MINUTE, MS_DAY), user))
            if self.late_joiner >= 0 and self.spans[self.late_joiner][0][0] > t:
                join = self.spans[self.late_joiner][0][0]
                events.append((self._rand(join, join + MS_DAY), self.late_joiner))
            if self.leaver >= 0 and rng.random() < 0.7:
                events.append((self._rand(t, t + 2 * MS_DAY), self.leaver))
            if rng.random() < 0.15:
                events.append((self._rand(t, t + 2 * MS_DAY), self._outsider()))
        elif rng.random() < 0.3:
            for user in self._members_at(c.draw_open)[:2]:
                events.append((self._rand(c.draw_open, c.draw_open + c.window + MS_DAY), user))
        self._emit_events(CLAIMS, "c", "claimed_at", events)

    def _claim_time(self, t: int) -> int:
        """When a splitter claims, relative to trigger t; -1 for never."""
        r, w = self.rng.random(), self.c.window
        if r < 0.22:
            return -1
        if r < 0.26:
            return t
        if r < 0.29:
            return t + w
        if r < 0.35:
            return self._rand(t + w + MS_SECOND, t + w + 30 * MS_HOUR)
        if r < 0.39:
            return self._rand(min(t, self.c.draw_open) - 2 * MS_HOUR, t)
        return t + int(self.rng.random() ** 2 * (w - MINUTE)) // 1000 * 1000

    def _emit_events(self, src: int, prefix: str, field: str,
                     events: list[tuple[int, int]]) -> None:
        events.sort(key=lambda e: e[0])
        em, gid = self.em, self.gid
        for k, (t, user) in enumerate(events):
            em.emit(src, f'{{"event_id":"{prefix}{self.gi:08d}{k:03d}","group_id":"{gid}",'
                    f'"user_id":"u{user:09d}","{field}":"{em.ts(t)}"}}', t)

    # --- the group row and membership events -----------------------------------------

    def _emit_group(self) -> None:
        em = self.em
        name = em.json_text(f"{self._pick(list(NAMES))} {self.gi}")
        em.emit(GROUPS, f'{{"group_id":"{self.gid}","creator_user_id":"u{self.creator:09d}",'
                f'"name":{name},"created_at":"{em.ts(self.created)}"}}', self.created)

    def _emit_memberships(self) -> None:
        """Join and leave events in time order; the creator's join is at created_at.
        One pre-draw event of a freeze-late group lands after the freeze."""
        c, em = self.c, self.em
        events = [(j, u, "join") for u, spans in self.spans.items() for j, _ in spans]
        events += [(x, u, "leave") for u, spans in self.spans.items()
                   for _, x in spans if x != NEVER]
        events.sort(key=lambda e: e[0])
        late = -1
        if self.rng.random() < 0.1:
            late = int(self.rng.random() * bisect_right([e[0] for e in events], c.draw_open - 1))
        for k, (t, user, action) in enumerate(events):
            day = min(c.freeze_day + 1 + k % 3, c.last_day) if k == late else -1
            em.emit(MEMBERSHIPS, f'{{"event_id":"m{self.gi:08d}{k:03d}","group_id":"{self.gid}",'
                    f'"user_id":"u{user:09d}","action":"{action}",'
                    f'"event_time":"{em.ts(t)}"}}', t, day)
