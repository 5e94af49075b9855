"""One little black group's life, simulated from its own RNG: creation, members and
churn, shares, orders with their payments and refunds, draw-page opens and claims.

A group's state lives only while it is simulated; its lines go straight to the work
unit's sink. Rare situations the pipeline must handle (docs/rules.md §4 edge cases) are group
features drawn with fixed probabilities, high enough that ~150 groups show each one.
Purchases are in orders.py.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from grouprebate.demo.emit import Emitter
from grouprebate.demo.landing_files import (
    CLAIMS,
    DRAWS,
    GROUPS,
    MEMBERSHIPS,
    MINUTE,
    MS_DAY,
    MS_HOUR,
    MS_SECOND,
    NEVER,
    SHARES,
)
from grouprebate.demo.orders import Purchases
from grouprebate.demo.world import World

# The skew knob (generate(skew=True)): a fresh share picks the hot item with this
# probability; re-shares copy it on, so about a quarter of all shares carry it.
HOT_ITEM_SHARE = 0.2
# ... and this group's members share the hot item every few seconds of the peak day.
ALL_DAY_GROUP = 0
ALL_DAY_EVERY = 10 * MS_SECOND

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
    skew: bool = False

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
        self.drawer = self.leaver = self.late_joiner = -1
        self.tie: Share | None = None
        self.price_factor = 8 if rng.random() < 0.05 else 1  # a big-spender group

    def run(self) -> None:
        self._create()
        self._join_members()
        self._plan_trigger()
        self._leave_before_trigger()
        self._hand_over()
        self._join_after_draw()
        self._share_items()
        Purchases(self).place()
        self._open_draws()
        self._claim()
        self._emit_group()
        self._emit_memberships()

    # --- time and membership helpers -------------------------------------------------

    def rand(self, lo: int, hi: int) -> int:
        """A random instant (or duration) in [lo, hi): whole seconds mostly, sometimes
        with milliseconds."""
        t = lo + int(self.rng.random() * (hi - lo))
        if self.rng.random() < 0.96:
            t += -t % MS_SECOND
        return t if t < hi else lo

    def is_member(self, user: int, t: int) -> bool:
        for j, leave in self.spans.get(user, ()):
            if j <= t < leave:
                return True
        return False

    def members_at(self, t: int) -> list[int]:
        return [u for u, spans in self.spans.items() if any(j <= t < x for j, x in spans)]

    def pick(self, items: Sequence):
        return items[int(self.rng.random() * len(items))]

    def outsider(self) -> int:
        """A user who is not (and never was) in this group."""
        user = self.world.user(self.rng)
        while user in self.spans:
            user = self.world.user(self.rng)
        return user

    # --- creation and members --------------------------------------------------------

    def _create(self) -> None:
        c, r = self.c, self.rng.random()
        if r < 0.3:  # launch-day burst
            created = self.rand(c.cal_start, c.cal_start + MS_DAY)
        elif r < 0.8 or c.acc_end - 3 * MS_DAY <= c.acc_start:
            created = self.rand(c.cal_start, c.acc_start)
        else:
            created = self.rand(c.acc_start, c.acc_end - 3 * MS_DAY)
        self.created = created - created % MS_SECOND
        self.creator = self._pick_creator()
        self.spans[self.creator] = [[self.created, NEVER]]

    def _pick_creator(self) -> int:
        """Mostly eligible creators; some ineligible at creation, some whose profile
        changes after creation (which must not matter)."""
        r = self.rng.random()
        want = ("eligible" if r < 0.86 else "lost_later" if r < 0.9 else
                "gained_later" if r < 0.93 else "gender" if r < 0.98 else "low")
        other_gender = self.pick([g for g in ("F", "M", "U") if g != self.world.creator_gender])
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
            user = self.outsider()
            # Friends mostly join within a day of the invitation; stragglers much later.
            spread = MS_DAY if rng.random() < 0.7 else join_end - self.created
            j = self.created + int(rng.random() ** 2 * min(spread, join_end - self.created))
            self.spans[user] = [[j - j % MS_SECOND + MS_SECOND, NEVER]]
        last_join = max(s[0][0] for s in self.spans.values())
        others = list(self.spans)[1:]
        if mode == "exceed":
            for user in others[: size - c.max_members + int(rng.random() * 2)]:
                self.spans[user][0][1] = self.rand(last_join + MINUTE, c.draw_open - MS_HOUR)
        else:
            for user in others:
                self._churn(user, last_join if mode == "full" else self.spans[user][0][0])

    def _churn(self, user: int, not_before: int) -> None:
        """Some members leave; about half of those rejoin later."""
        if self.rng.random() >= 0.12:
            return
        span = self.spans[user][0]
        leave = self.rand(not_before + 10 * MINUTE, self.c.draw_open + 2 * MS_DAY)
        span[1] = leave
        if self.rng.random() < 0.45:
            self.spans[user].append([self.rand(leave + 10 * MINUTE, leave + 3 * MS_DAY), NEVER])

    # --- the draw page: trigger plan and churn around it -----------------------------

    def _plan_trigger(self) -> None:
        """When a member first opens the draw page: at draw_open, soon, late in the
        claim window, after it (too late), or never."""
        c, r, w = self.c, self.rng.random(), self.c.window
        d = c.draw_open
        if r < 0.08:
            t = d
        elif r < 0.55:
            t = self.rand(d + MS_SECOND, d + w // 20)
        elif r < 0.75:
            t = self.rand(d + w // 20, d + w * 8 // 10)
        elif r < 0.84:
            t = self.rand(d + w * 8 // 10, d + w - MINUTE)
        elif r < 0.93:
            t = self.rand(d + w + MS_HOUR, d + w * 16 // 10)
        else:
            return
        present = self.members_at(t)
        if present:
            self.trigger, self.drawer = t, self.pick(present)

    def _leave_before_trigger(self) -> None:
        """A member present through accumulation leaves between draw_open and the trigger:
        their purchases count for the pool, but they get no part of the split."""
        c, t = self.c, self.trigger
        if t is None or self.rng.random() >= 0.3:
            return
        candidates = [u for u in self.members_at(t) if u not in (self.creator, self.drawer)
                      and self.spans[u][0][0] < c.acc_start]
        if not candidates:
            return
        user = self.pick(candidates)
        span = next(s for s in self.spans[user] if s[0] <= t < s[1])
        if t - c.draw_open > MINUTE:
            span[1] = self.rand(c.draw_open, t)
        else:
            span[1] = self.rand(max(span[0] + MINUTE, c.draw_open - 3 * MS_HOUR), t)
        self.leaver = user

    def _hand_over(self) -> None:
        """Now and then everyone leaves between draw_open and the trigger but a newcomer
        who joined after accumulation, so bought nothing here, and who then triggers:
        the splitters' contributions sum to zero although the pool does not."""
        c, t = self.c, self.trigger
        if t is None or t - c.draw_open < 10 * MINUTE or self.rng.random() >= 0.08:
            return
        if len(self.members_at(c.draw_open)) >= c.max_members:
            return
        heir = self.outsider()
        self.spans[heir] = [[self.rand(c.acc_end, c.draw_open), NEVER]]
        for user in self.members_at(t):
            span = next(s for s in self.spans[user] if s[0] <= t < s[1])
            lo = max(span[0] + MINUTE, c.draw_open)
            if user != heir and lo < t:
                span[1] = self.rand(lo, t)
        self.drawer = heir

    def _join_after_draw(self) -> None:
        if self.rng.random() >= 0.3:
            return
        base = self.trigger if self.trigger and self.rng.random() < 0.7 else self.c.draw_open
        self.late_joiner = self.outsider()
        self.spans[self.late_joiner] = [[self.rand(base + MINUTE, base + 3 * MS_DAY), NEVER]]

    # --- shares ----------------------------------------------------------------------

    def _share_items(self) -> None:
        c, rng = self.c, self.rng
        self.pre = [u for u, spans in self.spans.items() if spans[0][0] < c.draw_open]
        count = max(2, int(len(self.pre) * (1.2 + rng.random() * 2.6)))
        old_rate = 1.0 if rng.random() < 0.05 and c.old_versions else 0.08
        for _ in range(min(count, 9000)):
            user, t = self._share_moment()
            if c.skew and rng.random() < HOT_ITEM_SHARE:
                item = self.world.hot_item
            elif self.shares and rng.random() < 0.25:
                item = self.pick(self.shares).item  # re-shared: several touches per item
            else:
                item = self.world.item(rng)
            old = c.old_versions and rng.random() < old_rate
            version = self.pick(c.old_versions if old else c.new_versions)
            self.shares.append(Share(t, user, item, version,
                                     not old and self.is_member(user, t)))
        if rng.random() < 0.12:
            self._tie_share()
        if c.skew and self.gi == ALL_DAY_GROUP:
            self._share_all_day()
        self.shares.sort(key=lambda s: s.t)
        self.share_times = [s.t for s in self.shares]
        self._emit_shares()

    def _share_moment(self) -> tuple[int, int]:
        """Who shares when: a member during their membership, now and then not a member."""
        user = self.pick(self.pre)
        j, leave = self.spans[user][0]
        if self.rng.random() < 0.04:
            if j - self.created > 10 * MINUTE:
                return user, self.rand(self.created, j)
            if leave != NEVER:
                return user, self.rand(leave, leave + MS_DAY)
            return self.outsider(), self.rand(self.created, self.c.acc_end)
        hi = min(leave, self.c.acc_end)
        return user, (self.rand(j, hi) if hi > j else j)

    def _tie_share(self) -> None:
        """Another member shares the same item at the very same instant (tie -> share_id)."""
        qualifying = [s for s in self.shares if s.qualifies]
        if not qualifying:
            return
        first = self.pick(qualifying)
        others = [u for u in self.members_at(first.t) if u != first.user]
        if others:
            self.tie = first
            self.shares.append(Share(first.t, self.pick(others), first.item,
                                     self.pick(self.c.new_versions), True))

    def _share_all_day(self) -> None:
        """The skew knob's hot (group, item) pair: whoever is a member shares the hot item
        into this group every ALL_DAY_EVERY through the peak day, so one join key carries
        thousands of touches where the orders peak."""
        c = self.c
        for t in range(c.peak_start, c.acc_end, ALL_DAY_EVERY):
            present = self.members_at(t)
            if present:
                self.shares.append(Share(t, self.pick(present), self.world.hot_item,
                                         self.pick(c.new_versions), True))

    def _emit_shares(self) -> None:
        em, gid = self.em, self.gid
        for k, s in enumerate(self.shares):
            em.emit(SHARES, f'{{"share_id":"sh{self.gi:08d}{k:04d}","group_id":"{gid}",'
                    f'"sharer_user_id":"u{s.user:09d}","item_id":"i{s.item:08d}",'
                    f'"shared_at":"{em.ts(s.t)}","client_version":"{s.version}"}}', s.t)

    # --- draws and claims ------------------------------------------------------------

    def _open_draws(self) -> None:
        """Draw-page opens: the trigger, members peeking before draw_open, non-members
        opening it first, and other members after the trigger."""
        c, rng, t = self.c, self.rng, self.trigger
        events = [(t, self.drawer)] if t is not None else []
        if rng.random() < 0.35 or t is None:
            events.append((self.rand(c.draw_open - 20 * MS_HOUR, c.draw_open),
                           self.pick(self.pre)))
        hi = t if t is not None else c.draw_open + 2 * MS_DAY
        if rng.random() < 0.3 and hi > c.draw_open:
            at = self.rand(c.draw_open, hi)
            events.append((at, self._non_member_at(at)))
        if t is not None and rng.random() < 0.5:
            for _ in range(1 + int(rng.random() * 3)):
                events.append((self.rand(t, t + 2 * MS_DAY), self.pick(list(self.spans))))
        self._emit_events(DRAWS, "d", "drawn_at", events)

    def _non_member_at(self, t: int) -> int:
        absent = [u for u in self.spans if not self.is_member(u, t)]
        return self.pick(absent) if absent and self.rng.random() < 0.5 else self.outsider()

    def _claim(self) -> None:
        """Claims by splitters inside the window (on both edges), too late and too early,
        twice, and by non-splitters. Winners are unknown here (the draw seed is secret),
        so every group gets claims, untriggered ones too."""
        c, rng, t = self.c, self.rng, self.trigger
        events: list[tuple[int, int]] = []
        if t is not None and t <= c.draw_open + c.window:
            for user in self.members_at(t):
                at = self._claim_time(t)
                if at >= 0:
                    events.append((at, user))
                    if rng.random() < 0.12:
                        events.append((at + self.rand(MINUTE, MS_DAY), user))
            if self.late_joiner >= 0 and self.spans[self.late_joiner][0][0] > t:
                join = self.spans[self.late_joiner][0][0]
                events.append((self.rand(join, join + MS_DAY), self.late_joiner))
            if self.leaver >= 0 and rng.random() < 0.7:
                events.append((self.rand(t, t + 2 * MS_DAY), self.leaver))
            if rng.random() < 0.15:
                events.append((self.rand(t, t + 2 * MS_DAY), self.outsider()))
        else:  # whoever wins, somebody tries to claim
            for user in self.members_at(c.draw_open)[:2]:
                events.append((self.rand(c.draw_open, c.draw_open + c.window + MS_DAY), user))
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
            return self.rand(t + w + MS_SECOND, t + w + 30 * MS_HOUR)
        if r < 0.39:
            return self.rand(min(t, self.c.draw_open) - 2 * MS_HOUR, t)
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
        name = em.json_text(f"{self.pick(NAMES)} {self.gi}")
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
