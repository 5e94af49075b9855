"""How a generated event reaches the landing zone: which ds it arrives in, how its
timestamps are written, and whether upstream delivers it twice or changed.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right

from grouprebate.demo.landing_files import MS_HOUR, SOURCE_NAMES, Calendar, Sink, format_ts

DUPLICATE_RATE = 0.003
CONFLICT_RATE = 0.001
# The field a conflicting redelivery changes, per source.
CONFLICT_FIELD = {"users": "naughty_value", "groups": "name", "memberships": "action",
                  "shares": "item_id", "orders": "total_fen", "payments": "amount_fen",
                  "refunds": "amount_fen", "draws": "user_id", "claims": "user_id"}


class Emitter:
    """Writes events into a Sink. `rng` is the current group's (or the users
    pass's) generator, so every choice here is part of that deterministic stream."""

    def __init__(self, sink: Sink, cal: Calendar) -> None:
        self.sink, self.cal = sink, cal
        self.rng = random.Random(0)
        self.midnights, self.end, self.last = cal.midnights, cal.end, cal.last
        # One local offset for the whole calendar (no DST) saves a lookup per timestamp.
        self.fixed = len(set(cal.offsets)) == 1
        self.local_offset, self.local_suffix = cal.offsets[0], cal.suffixes[0]
        self.write = sink.write

    def ts(self, t: int) -> str:
        """Timestamp text: mostly campaign-local, else Z, +00:00 or -05:00."""
        r = self.rng.random()
        if r < 0.72:
            if self.fixed:
                return format_ts(t, self.local_offset, self.local_suffix)
            day = self.cal.day_of(t)
            return format_ts(t, self.cal.offsets[day], self.cal.suffixes[day])
        if r < 0.84:
            return format_ts(t, 0, "Z")
        if r < 0.92:
            return format_ts(t, 0, "+00:00")
        return format_ts(t, -300, "-05:00")

    @staticmethod
    def json_text(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    def emit(self, src: int, line: str, t: int, day: int = -1) -> int:
        """Deliver one line for an event at t (into `day` if given); return the day,
        or -1 when t falls after the last run date and nothing was written."""
        if t >= self.end:
            return -1
        rng = self.rng
        if day < 0:
            day = self._arrive(t, rng.random())
        self.write(src, day, line)
        r = rng.random()
        if r < DUPLICATE_RATE:
            again = day if r < DUPLICATE_RATE / 2 else day + 1 + int(rng.random() * 3)
            self.write(src, min(again, self.last), line)
        elif r < DUPLICATE_RATE + CONFLICT_RATE:
            later = min(day + 1 + int(rng.random() * 3), self.last)
            self.sink.write_conflict(src, later, variant(src, line), line)
        return day

    def _arrive(self, t: int, r: float) -> int:
        """The arrival day of an event at t: mostly its own date, sometimes days late,
        now and then the day before when t is within the hour of clock skew."""
        day = bisect_right(self.midnights, t) - 1
        if day < 0:  # before the calendar: backfilled on the first run date
            day = 0
        if r < 0.955:
            if r < 0.03 and day > 0 and t < self.midnights[day] + MS_HOUR:
                return day - 1
            return day
        if r < 0.985:
            day += 1
        elif r < 0.997:
            day += 2 + int(self.rng.random() * 3)
        else:
            day += 5 + int(self.rng.random() * 6)
        return min(day, self.last)


def variant(src: int, line: str) -> str:
    """The same row with one field changed: a conflicting redelivery of its id."""
    obj = json.loads(line)
    name = CONFLICT_FIELD[SOURCE_NAMES[src]]
    value = obj[name]
    if isinstance(value, int):
        obj[name] = value + 1
    elif name == "action":
        obj[name] = "leave" if value == "join" else "join"
    else:
        obj[name] = value + ("9" if name.endswith("_id") else " (2)")
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
