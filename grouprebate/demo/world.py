"""The population a generated campaign draws from: users with profile versions, items
with Zipf-like popularity, sellers and client versions.

Users and items are pure functions of (seed, index), so no table of them is held in
memory and any group can look up any user's profile in any order.
"""

from __future__ import annotations

import random
from hashlib import blake2b

from grouprebate.config import CampaignConfig
from grouprebate.demo.landing_files import MS_DAY, MS_SECOND, Calendar, to_ms

GENDERS = ("F", "M", "U")
Profile = tuple[int, str, int]  # (valid_from ms, gender, naughty_value)


def client_versions(min_version: str) -> tuple[list[str], list[str]]:
    """App versions at or above the minimum (with 8.9.0 and 8.10.0 style neighbours) and
    below it (8.0.9, 7.9.9 style), derived from the config so another year still fits."""
    parts = [int(p) for p in min_version.split(".")] + [0, 0]
    a, b, c = parts[:3]
    new = [f"{a}.{b}.{c}", f"{a}.{b + 1}.0", f"{a}.{b + 1}.0", f"{a}.{b + 8}.0",
           f"{a}.{b + 8}.0", f"{a}.{b + 9}.0", f"{a}.{b + 9}.0", f"{a}.{b + 9}.2",
           f"{a + 1}.0.0"]
    if c == 0:
        new.append(f"{a}.{b}")  # equal to the minimum when compared numerically
    old = []
    if c > 0:
        old.append(f"{a}.{b}.{c - 1}")
    if b > 0:
        old += [f"{a}.{b - 1}.9", f"{a}.{b - 1}.0"]
    if a > 0:
        old += [f"{a - 1}.9.9", f"{a - 1}.10.3"]
    return new, old


class World:
    """Users, items and sellers of one generated campaign, sized from the group count."""

    def __init__(self, seed: int, groups: int, config: CampaignConfig, cal: Calendar) -> None:
        self.seed = seed
        self.n_users, self.n_items, self.n_sellers = self.sizes(groups)
        self.start = cal.midnights[0]
        draw_open = to_ms(config.draw_open)
        # Profiles change during the campaign, well before the last run date.
        self.change_until = draw_open + (cal.end - draw_open) // 2
        self.creator_gender = config.creator_gender
        self.min_naughty = config.creator_min_naughty_value

    @staticmethod
    def sizes(groups: int) -> tuple[int, int, int]:
        """(users, items, sellers) for a campaign of this many groups."""
        return groups * 6 + 200, groups * 20 + 1000, groups // 4 + 40

    def profiles(self, user: int) -> list[Profile]:
        """Every profile version of a user, oldest first, with distinct valid_from."""
        digest = blake2b(f"{self.seed}:u:{user}".encode(), digest_size=32).digest()
        f = [int.from_bytes(digest[i:i + 2], "little") / 65536 for i in range(0, 32, 2)]
        gender = "F" if f[0] < 0.68 else "M" if f[0] < 0.95 else "U"
        naughty = int(f[1] * 1500)
        first = self.start - MS_DAY * (1 + int(f[2] * 300)) + MS_SECOND * int(f[3] * 86400)
        versions = [(first, gender, naughty)]
        count = 1 if f[4] < 0.83 else 2 if f[4] < 0.97 else 3
        t = self.start
        for k in range(1, count):
            t += MS_SECOND * (1 + int(f[4 + k] * (self.change_until - t) / MS_SECOND))
            naughty = max(0, naughty + int((f[7 + k] - 0.5) * 900))
            if f[10 + k] < 0.1:
                gender = GENDERS[int(f[12 + k] * 3)]
            versions.append((t, gender, naughty))
        return versions

    def eligible(self, profile: Profile | None) -> bool:
        """May this profile create a group (docs/rules.md §4 valid group)?"""
        return profile is not None and (
            profile[1] == self.creator_gender and profile[2] >= self.min_naughty
        )

    @staticmethod
    def profile_at(versions: list[Profile], t: int) -> Profile | None:
        """The profile in force at t: the latest valid_from <= t."""
        current = None
        for version in versions:
            if version[0] <= t:
                current = version
        return current

    def user(self, rng: random.Random) -> int:
        """A user index: mostly uniform, a fifth Zipf-like so some users join many groups."""
        if rng.random() < 0.2:
            return int(self.n_users ** rng.random()) - 1
        return int(rng.random() * self.n_users)

    def item(self, rng: random.Random) -> int:
        """An item index with a Zipf-like head: a few items get shared into very many groups."""
        if rng.random() < 0.7:
            return int(self.n_items ** rng.random()) - 1
        return int(rng.random() * self.n_items)

    @property
    def hot_item(self) -> int:
        """The skew knob's hot item: one past the catalogue, so no regular pick lands on it
        and its share of the shares is the knob's alone."""
        return self.n_items

    def price(self, item: int) -> int:
        """A fixed price in fen per item, log-uniform from 9.90 to about 3,000 CNY."""
        h = ((item + self.seed * 7919) * 2654435761) % 2**32 / 2**32
        return int(9.9 * 300**h) * 100 + 90

    def seller(self, item: int) -> str:
        return f"s{(item * 40503 + 7) % self.n_sellers:06d}"
