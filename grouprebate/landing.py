"""Plain-Python view of a landing zone: its files in arrival order and a contract check.

The Spark ingest job is the production reader; this module is the reference
the generator and the tests use to prove a landing zone keeps the contract.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from grouprebate.config import CampaignConfig
from grouprebate.contract import (
    REASON_TOO_LONG,
    SOURCES,
    Checked,
    Source,
    bad_row_rate,
    check_raw_line,
    passes_bad_row_gate,
    reason_conflict,
)

DS_DIR_RE = re.compile(r"ds=(\d{4}-\d{2}-\d{2})")
FILE_SUFFIXES = (".jsonl", ".jsonl.gz")
CHUNK_BYTES = 2**20
LINE_END_RE = re.compile(rb"\r\n|\r|\n")  # as Hadoop's line reader, which Spark uses


class LandingError(ValueError):
    """A landing zone laid out against the contract (docs/rules.md §3)."""


class LandingFileError(LandingError):
    """A file that cannot be read to its end or is too large: its rows are unknown, so its
    day fails whatever the bad-row rate."""


def data_files(folder: Path) -> list[Path]:
    """The contract's data files of one landing partition folder, in arrival order (name).

    A symbolic link is never data: it could lead out of the landing zone (stray_files
    names it)."""
    return [p for p in sorted(folder.iterdir())
            if p.name.endswith(FILE_SUFFIXES) and p.is_file() and not p.is_symlink()]


def _partition_folder(folder: Path) -> bool:
    """A real ds= folder in a real source folder: no symbolic link on the way."""
    return folder.is_dir() and not folder.is_symlink() and not folder.parent.is_symlink()


def landing_files(root: Path, source: str) -> Iterator[tuple[dt.date, Path]]:
    """(ds, file) of one source, in arrival order: ds, then file name."""
    base = root / source
    if not base.is_dir():
        return
    for ds_dir in sorted(base.iterdir()):
        match = DS_DIR_RE.fullmatch(ds_dir.name)
        if not _partition_folder(ds_dir) or not match:
            continue
        ds = dt.date.fromisoformat(match.group(1))
        for path in data_files(ds_dir):
            yield ds, path


def files_of_day(root: Path, ds: dt.date) -> dict[str, list[Path]]:
    """The files of landing partition ds per source (sources without files are absent)."""
    found = {}
    for name in SOURCES:
        folder = root / name / f"ds={ds.isoformat()}"
        if _partition_folder(folder) and (paths := data_files(folder)):
            found[name] = paths
    return found


@dataclass(frozen=True)
class LandedFile:
    """One data file of a landing partition as the ingest found it (size on disk)."""

    source: str
    file: str
    size_bytes: int
    mtime_ns: int


CHANGE_ARRIVED = "arrived after ingest"
CHANGE_CHANGED = "changed after ingest"
CHANGE_REMOVED = "removed after ingest"


def landed_files(root: Path, ds: dt.date) -> list[LandedFile]:
    """The data files of landing partition ds with their size and mtime, by source and name."""
    return [LandedFile(name, path.name, (st := path.stat()).st_size, st.st_mtime_ns)
            for name, paths in files_of_day(root, ds).items() for path in paths]


def landing_changes(ingested: Iterable[LandedFile],
                    now: Iterable[LandedFile]) -> list[tuple[str, str, str]]:
    """(source, file, change) of one partition: how its files now differ from those its
    ingest read, so a file that lands or changes after its date's ingest is never unseen."""
    before = {(f.source, f.file): f for f in ingested}
    after = {(f.source, f.file): f for f in now}
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is None:
            changes.append((*key, CHANGE_ARRIVED))
        elif new is None:
            changes.append((*key, CHANGE_REMOVED))
        elif (old.size_bytes, old.mtime_ns) != (new.size_bytes, new.mtime_ns):
            changes.append((*key, CHANGE_CHANGED))
    return changes


LINK = "a symbolic link, not read: it could lead out of the landing zone"


def stray_files(root: Path, ds: dt.date | None = None) -> list[tuple[Path, str]]:
    """(path, why) of what sits in the landing zone but is not contract data, so that no
    file is passed over in silence; with ds, only what sits in a ds=<ds> folder."""
    strays: list[tuple[Path, str]] = []
    for top in sorted(root.iterdir()) if root.is_dir() else []:
        known = top.name in SOURCES
        if top.is_symlink():
            strays.append((top, LINK))
            continue
        if not top.is_dir():
            if ds is None:
                strays.append((top, "not a source folder"))
            continue
        for folder in sorted(top.iterdir()):
            match = DS_DIR_RE.fullmatch(folder.name)
            if ds is not None and (not match or match.group(1) != ds.isoformat()):
                continue
            if not known:
                strays.append((folder, f"source {top.name} is not in the contract"))
            elif folder.is_symlink():
                strays.append((folder, LINK))
            elif not folder.is_dir() or not match:
                strays.append((folder, "not a ds=YYYY-MM-DD folder"))
            else:
                data = set(data_files(folder))
                strays += [(p, LINK if p.is_symlink() else "not a <name>.jsonl[.gz] file")
                           for p in sorted(folder.iterdir()) if p not in data]
    return strays


def read_chunks(path: Path, max_file_bytes: int) -> Iterator[bytes]:
    """The file's (decompressed) bytes in bounded chunks; LandingFileError, naming the
    file, when gzip data is corrupt or truncated or the data passes max_file_bytes."""
    opener = gzip.open if path.name.endswith(".gz") else open
    total = 0
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                total += len(chunk)
                if total > max_file_bytes:
                    raise _too_large(path, max_file_bytes)
                yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise LandingFileError(f"{path}: cannot be read to its end ({exc}); its day fails: "
                               "have the file delivered again") from None


class FileCheck(NamedTuple):
    size: int  # bytes once decompressed
    long_line: bool  # a line passes max_line_bytes (False for a plain file not scanned)


def checked_file(path: Path, max_file_bytes: int, max_line_bytes: int,
                 scan_plain_over: int) -> FileCheck:
    """A landing file's size once decompressed and whether it holds a line longer than
    max_line_bytes. A gzip file is read to its end to know them (LandingFileError as
    read_chunks); a plain file only when it is larger than scan_plain_over bytes."""
    size = path.stat().st_size
    plain = not path.name.endswith(".gz")
    if plain and size > max_file_bytes:
        raise _too_large(path, max_file_bytes)
    if plain and size <= scan_plain_over:
        return FileCheck(size, False)
    sizes: list[int] = []
    chunks = (sizes.append(len(chunk)) or chunk for chunk in read_chunks(path, max_file_bytes))
    long_line = has_long_line(chunks, max_line_bytes)
    return FileCheck(sum(sizes), long_line)


def _too_large(path: Path, max_file_bytes: int) -> LandingFileError:
    return LandingFileError(
        f"{path}: more than landing.max_file_bytes={max_file_bytes} bytes (decompressed); "
        "its day fails: split the file upstream or raise the limit")


def split_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Lines cut at LF, CR LF or a lone CR, each with whether it is longer than
    max_line_bytes. A longer line keeps its first max_line_bytes + 1 bytes, enough to show
    it passes the limit; the rest are dropped as they come, so memory stays bounded."""
    buffer, prefix = b"", None  # prefix: the kept bytes of a line known to be too long
    for chunk in chunks:
        scanned = max(len(buffer) - 1, 0)  # a held CR may pair with this chunk's LF
        buffer += chunk
        start = 0
        for end in LINE_END_RE.finditer(buffer, scanned):
            if end.group() == b"\r" and end.end() == len(buffer):
                break
            yield _cut(prefix, buffer[start:end.start()], max_line_bytes)
            prefix, start = None, end.end()
        buffer = buffer[start:]
        held_cr = buffer.endswith(b"\r")
        if len(buffer) - held_cr > max_line_bytes:
            prefix = buffer[:max_line_bytes + 1] if prefix is None else prefix
            buffer = b"\r" if held_cr else b""
    if buffer or prefix is not None:
        yield _cut(prefix, buffer[:-1] if buffer.endswith(b"\r") else buffer, max_line_bytes)


def _cut(prefix: bytes | None, line: bytes, max_line_bytes: int) -> tuple[bytes, bool]:
    if prefix is not None:
        return prefix, True
    if len(line) > max_line_bytes:
        return line[:max_line_bytes + 1], True
    return line, False


def has_long_line(chunks: Iterable[bytes], max_line_bytes: int) -> bool:
    """Whether a line passes max_line_bytes, at the speed of bytes.split: a line's bytes
    are those between two line-end bytes (CR or LF), so the longest run without one is
    the longest line. Every chunk is consumed."""
    run, longest = 0, 0  # run: bytes since the last line end, carried between chunks
    for chunk in chunks:
        runs = chunk.replace(b"\r", b"\n").split(b"\n")
        if len(runs) == 1:
            run += len(chunk)
        else:
            longest = max(longest, run + len(runs[0]), *map(len, runs[1:-1]))
            run = len(runs[-1])
    return max(longest, run) > max_line_bytes


def record_fingerprint(record: dict) -> str:
    """Content identity of a typed record: equal for re-deliveries, whatever their formatting."""
    canonical = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in record.items()}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def check_lines(
    source: Source, chunks: Iterable[bytes], ds: dt.date, config: CampaignConfig
) -> Iterator[tuple[int, Checked]]:
    """(line number, verdict) of every non-blank line of one file of partition ds."""
    for number, (raw, too_long) in enumerate(split_lines(chunks, config.max_line_bytes), 1):
        if too_long:
            yield number, Checked(None, REASON_TOO_LONG)
        elif (checked := check_raw_line(source, raw, number == 1, ds, config.tz)) is not None:
            yield number, checked


@dataclass
class PartitionReport:
    rows: int = 0
    valid: int = 0
    duplicates: int = 0
    bad: int = 0
    extra_fields: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def rate(self) -> float:
        return bad_row_rate(self.bad, self.rows)

    def passes(self, max_bad_row_rate: float) -> bool:
        return passes_bad_row_gate(self.bad, self.rows, max_bad_row_rate)


def validate_source(
    root: Path, source: Source, config: CampaignConfig
) -> dict[dt.date, PartitionReport]:
    """Check every line of one source and report per landing partition (ds).

    Files are streamed in chunks; what grows is one fingerprint per distinct key.
    """
    seen: dict[tuple, str] = {}
    reports: dict[dt.date, PartitionReport] = {}
    for ds, path in landing_files(root, source.name):
        report = reports.setdefault(ds, PartitionReport())
        chunks = read_chunks(path, config.max_file_bytes)
        for _, checked in check_lines(source, chunks, ds, config):
            report.rows += 1
            report.extra_fields += checked.extra_fields
            record, reason = checked.record, checked.reason
            if record is not None:
                key = tuple(record[k] for k in source.key)
                fingerprint = record_fingerprint(record)
                if key not in seen:
                    seen[key] = fingerprint
                elif seen[key] != fingerprint:
                    reason = reason_conflict(source.key)
                else:
                    report.duplicates += 1
                    continue
            if reason:
                report.bad += 1
                report.reasons[reason] = report.reasons.get(reason, 0) + 1
            else:
                report.valid += 1
    return reports


def validate_landing(
    root: Path, config: CampaignConfig
) -> dict[str, dict[dt.date, PartitionReport]]:
    """Contract report of a whole landing zone, keyed by source then ds."""
    if not root.is_dir():
        raise LandingError(f"{root}: landing zone directory not found")
    return {name: validate_source(root, source, config) for name, source in SOURCES.items()}


def partition_arrived(root: Path, ds: dt.date) -> bool:
    """Whether any source has a landing partition for ds (the nightly run may start)."""
    return any((root / name / f"ds={ds.isoformat()}").is_dir() for name in SOURCES)
