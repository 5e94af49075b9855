"""Landing-zone output of the generator: calendar arithmetic in epoch milliseconds,
timestamp text, per-(source, ds) buffers with their bad-row budget, and part files.

Everything here is deterministic: no clock, no global RNG, no hash-ordered sets.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from bisect import bisect_right
from pathlib import Path
from typing import IO, Any

from grouprebate.config import CampaignConfig
from grouprebate.contract import ENUM, ID, INT, SOURCES, Source, ds_deadline

MS_SECOND = 1000
MS_HOUR = 3_600_000
MS_DAY = 86_400_000
ROLLOVER_LINES = 500_000
GZIP_LEVEL = 6
MINUTE = 60_000
NEVER = 1 << 62  # the end of a membership that never ends
SOURCE_NAMES = list(SOURCES)
USERS, GROUPS, MEMBERSHIPS, SHARES, ORDERS, PAYMENTS, REFUNDS, DRAWS, CLAIMS = (
    SOURCE_NAMES.index(name) for name in ("users", "groups", "memberships", "shares", "orders",
                                          "payments", "refunds", "draws", "claims"))
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
_BAD_ENUM = {"gender": "X", "action": "kick"}


def to_ms(instant: dt.datetime) -> int:
    """Epoch milliseconds of an aware datetime: all rule arithmetic is on integers."""
    return (instant - _EPOCH) // dt.timedelta(milliseconds=1)


_HOUR_TEXT: dict[int, str] = {}
_MIN_SEC = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]


def _hour_text(hour: int) -> str:
    """'YYYY-MM-DDTHH:' of a wall-clock hour counted from the epoch, cached: ts is hot."""
    day, h = divmod(hour, 24)
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    text = _HOUR_TEXT[hour] = f"{date.isoformat()}T{h:02d}:"
    return text


def offset_suffix(offset_min: int) -> str:
    """The ISO-8601 offset text of an offset in minutes (+08:00, -05:00)."""
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def format_ts(t: int, offset_min: int, suffix: str) -> str:
    """ISO-8601 text of epoch-ms t as wall time at the offset; milliseconds only if non-zero."""
    hour, rem = divmod(t + offset_min * 60_000, MS_HOUR)
    sec, ms = divmod(rem, MS_SECOND)
    text = _HOUR_TEXT.get(hour) or _hour_text(hour)
    if not ms:
        return text + _MIN_SEC[sec] + suffix
    # Some upstream systems write microseconds: same instant, six digits.
    frac = f".{ms:03d}000" if ms % 7 == 0 else f".{ms:03d}"
    return text + _MIN_SEC[sec] + frac + suffix


class Calendar:
    """The run dates as local midnights in epoch ms, so a ds lookup is one bisect."""

    def __init__(self, config: CampaignConfig) -> None:
        tz = config.tz
        self.days = config.calendar()
        bounds = self.days + [self.days[-1] + dt.timedelta(days=1)]
        self.midnights = [to_ms(dt.datetime.combine(d, dt.time(), tzinfo=tz)) for d in bounds]
        self.offsets = [
            int(dt.datetime.combine(d, dt.time(12), tzinfo=tz).utcoffset().total_seconds()) // 60
            for d in self.days
        ]
        self.suffixes = [offset_suffix(o) for o in self.offsets]
        self.end = self.midnights[-1]
        self.last = len(self.days) - 1

    def day_of(self, t: int) -> int:
        """Index of the run date holding t; earlier instants map to the first run date."""
        return min(max(bisect_right(self.midnights, t) - 1, 0), self.last)

    def index(self, date: dt.date) -> int:
        return (date - self.days[0]).days


class Partition:
    """One landing partition (source, ds) within a work unit: its lines so far and its
    bad-row account."""

    __slots__ = ("source", "src", "day", "ds", "buf", "bad", "malformed", "conflicts",
                 "next_bad")

    def __init__(self, source: Source, src: int, day: int, ds: dt.date) -> None:
        self.source, self.src, self.day, self.ds = source, src, day, ds
        self.buf: list[str] = []
        self.bad = self.malformed = self.conflicts = 0
        # Stagger the first malformed line so partitions differ, but never before line 200.
        self.next_bad = 200 + (src * 37 + day * 53) % 50


# (source index, day index, text, lines, malformed lines, conflicting lines)
Chunk = tuple[int, int, bytes, int, int, int]


class Sink:
    """Collects one work unit's lines per (source, ds) in memory and spends each
    partition's bad-row budget: malformed lines at a deterministic stride, id conflicts
    on request, never more than `bad_rate` of the partition's lines."""

    def __init__(self, cal: Calendar, config: CampaignConfig) -> None:
        self.cal, self.tz = cal, config.tz
        self.bad_rate = min(0.005, config.max_bad_row_rate / 2)
        self.parts: list[list[Partition | None]] = [[None] * len(cal.days) for _ in SOURCES]
        self.kinds = [malformed_kinds(SOURCES[name]) for name in SOURCE_NAMES]

    def write(self, src: int, day: int, line: str) -> None:
        """Add one valid line; the hot path of the generator."""
        p = self.parts[src][day] or self._partition(src, day)
        p.buf.append(line)
        if len(p.buf) >= p.next_bad:
            self._malformed(p)

    def write_conflict(self, src: int, day: int, variant: str, original: str) -> None:
        """Redeliver a row with changed content if the partition can afford one more bad
        row; otherwise redeliver it unchanged (an exact duplicate is not bad input)."""
        p = self.parts[src][day] or self._partition(src, day)
        if not self._has_budget(p):
            self.write(src, day, original)
            return
        p.buf.append(variant)
        p.bad += 1
        p.conflicts += 1

    def drain(self) -> list[Chunk]:
        """The unit's output in a fixed (source, day) order."""
        return [(p.src, p.day, ("\n".join(p.buf) + "\n").encode(), len(p.buf), p.malformed,
                 p.conflicts) for row in self.parts for p in row if p is not None]

    def _malformed(self, p: Partition) -> None:
        """Follow the last valid line with a bad copy of it, if the budget allows."""
        if self._has_budget(p):
            kinds = self.kinds[p.src]
            kind = kinds[(p.malformed + p.day) % len(kinds)]
            p.buf.append(corrupt(p.source, p.buf[-1], kind, p.ds, self.tz))
            p.bad += 1
            p.malformed += 1
        lines = len(p.buf)
        p.next_bad = lines + 300 + (lines * 7919 + p.day) % 400

    def _has_budget(self, p: Partition) -> bool:
        return p.bad + 1 <= (len(p.buf) + 1) * self.bad_rate

    def _partition(self, src: int, day: int) -> Partition:
        p = Partition(SOURCES[SOURCE_NAMES[src]], src, day, self.cal.days[day])
        self.parts[src][day] = p
        return p


class LandingFiles:
    """Appends work-unit chunks to `<root>/<source>/ds=<date>/part-NNNNN.jsonl[.gz]`,
    starting a new part file every `rollover` lines, and counts what was written."""

    def __init__(self, root: Path, cal: Calendar, *, gzip: bool,
                 rollover: int = ROLLOVER_LINES) -> None:
        self.root, self.cal, self.gzip, self.rollover = root, cal, gzip, rollover
        self.open: dict[tuple[int, int], tuple[IO[bytes], IO[bytes], int, int]] = {}
        self.counts = {name: [0, 0, 0] for name in SOURCE_NAMES}  # lines, malformed, conflicts
        self.files = 0

    def write(self, chunk: Chunk) -> None:
        src, day, data, lines, malformed, conflicts = chunk
        counts = self.counts[SOURCE_NAMES[src]]
        counts[0] += lines
        counts[1] += malformed
        counts[2] += conflicts
        while lines:
            fh, raw, part, used = self.open.get((src, day)) or self._open(src, day, 0)
            if used == self.rollover:
                fh, raw, part, used = self._open(src, day, part + 1)
            take = min(lines, self.rollover - used)
            cut = len(data) if take == lines else _nth_newline(data, take) + 1
            fh.write(data[:cut])
            self.open[(src, day)] = (fh, raw, part, used + take)
            data, lines = data[cut:], lines - take

    def close(self) -> dict[str, Any]:
        """Close every file; rows and bad rows per source."""
        for key in list(self.open):
            self._close(key)
        rows = {name: c[0] for name, c in self.counts.items()}
        malformed = {name: c[1] for name, c in self.counts.items()}
        conflicts = {name: c[2] for name, c in self.counts.items()}
        bad = {name: c[1] + c[2] for name, c in self.counts.items()}
        return {"rows": rows, "bad_lines": bad, "malformed": malformed, "conflicts": conflicts,
                "total_rows": sum(rows.values()), "files": self.files}

    def _open(self, src: int, day: int, part: int) -> tuple[IO[bytes], IO[bytes], int, int]:
        if (src, day) in self.open:
            self._close((src, day))
        folder = self.root / SOURCE_NAMES[src] / f"ds={self.cal.days[day].isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        raw = open(folder / f"part-{part:05d}.jsonl{'.gz' if self.gzip else ''}", "wb")
        # No file name and mtime 0 in the gzip header: the bytes depend on content only.
        fh = (gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
              if self.gzip else raw)
        self.files += 1
        self.open[(src, day)] = (fh, raw, part, 0)
        return self.open[(src, day)]

    def _close(self, key: tuple[int, int]) -> None:
        fh, raw, _, _ = self.open.pop(key)
        if fh is not raw:
            fh.close()
        raw.close()


def _nth_newline(data: bytes, n: int) -> int:
    """Offset of the n-th newline (1-based) in data."""
    at = -1
    for _ in range(n):
        at = data.index(b"\n", at + 1)
    return at


def malformed_kinds(source: Source) -> list[str]:
    """The kinds of bad line that make sense for a source (e.g. 'kick' needs an enum),
    source-specific kinds first so that small partitions show them too."""
    kinds = []
    if any(f.kind == ENUM for f in source.fields):
        kinds.append("bad_enum")
    if any(f.kind == INT for f in source.fields):
        kinds += ["non_positive", "amount_as_string"]
    return kinds + ["not_json", "array", "missing", "id_as_number", "no_offset", "future"]


def corrupt(source: Source, line: str, kind: str, ds: dt.date, tz: dt.tzinfo) -> str:
    """A bad copy of a valid line: what a broken upstream system would deliver."""
    if kind == "not_json":
        return line[: len(line) // 2]
    obj = json.loads(line)
    if kind == "array":
        return _dumps(list(obj.values()))
    if kind == "missing":
        del obj[source.fields[len(line) % len(source.fields)].name]
    elif kind == "id_as_number":
        name = next(f.name for f in source.fields if f.kind == ID)
        obj[name] = int("".join(c for c in obj[name] if c.isdigit()) or "0")
    elif kind == "amount_as_string":
        name = next(f.name for f in reversed(source.fields) if f.kind == INT)
        obj[name] = str(obj[name])
    elif kind == "non_positive":
        field = next(f for f in reversed(source.fields) if f.kind == INT)
        value = obj[field.name]
        obj[field.name] = -(value + 1) if field.minimum == 0 or value % 2 else 0
    elif kind == "bad_enum":
        field = next(f for f in source.fields if f.kind == ENUM)
        obj[field.name] = _BAD_ENUM.get(field.name, "?")
    elif kind == "no_offset":
        obj[source.event_time] = _OFFSET_RE.sub("", obj[source.event_time])
    elif kind == "future":
        future = ds_deadline(ds, tz) + dt.timedelta(hours=2)
        obj[source.event_time] = future.isoformat()
    return _dumps(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
