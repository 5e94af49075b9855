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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grouprebate.config import CampaignConfig
from grouprebate.contract import (
    SOURCES,
    Source,
    bad_row_rate,
    check_line,
    passes_bad_row_gate,
    reason_conflict,
)

DS_DIR_RE = re.compile(r"ds=(\d{4}-\d{2}-\d{2})")
FILE_SUFFIXES = (".jsonl", ".jsonl.gz")


class LandingError(ValueError):
    """A landing zone laid out against the contract (docs/rules.md §3)."""


def data_files(folder: Path) -> list[Path]:
    """The contract's data files of one landing partition folder, in arrival order (name)."""
    return [p for p in sorted(folder.iterdir()) if p.name.endswith(FILE_SUFFIXES)]


def landing_files(root: Path, source: str) -> Iterator[tuple[dt.date, Path]]:
    """(ds, file) of one source, in arrival order: ds, then file name."""
    base = root / source
    if not base.is_dir():
        return
    for ds_dir in sorted(base.iterdir()):
        match = DS_DIR_RE.fullmatch(ds_dir.name)
        if not ds_dir.is_dir() or not match:
            continue
        ds = dt.date.fromisoformat(match.group(1))
        for path in data_files(ds_dir):
            yield ds, path


def files_of_day(root: Path, ds: dt.date) -> dict[str, list[Path]]:
    """The files of landing partition ds per source (sources without files are absent)."""
    found = {}
    for name in SOURCES:
        folder = root / name / f"ds={ds.isoformat()}"
        if folder.is_dir() and (paths := data_files(folder)):
            found[name] = paths
    return found


def read_lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


def record_fingerprint(record: dict) -> str:
    """Content identity of a typed record: equal for re-deliveries, whatever their formatting."""
    canonical = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in record.items()}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@dataclass
class PartitionReport:
    rows: int = 0
    valid: int = 0
    duplicates: int = 0
    bad: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def rate(self) -> float:
        return bad_row_rate(self.bad, self.rows)

    def passes(self, max_bad_row_rate: float) -> bool:
        return passes_bad_row_gate(self.bad, self.rows, max_bad_row_rate)


def validate_source(
    root: Path, source: Source, config: CampaignConfig
) -> dict[dt.date, PartitionReport]:
    """Check every line of one source and report per landing partition (ds)."""
    seen: dict[tuple, str] = {}
    reports: dict[dt.date, PartitionReport] = {}
    for ds, path in landing_files(root, source.name):
        report = reports.setdefault(ds, PartitionReport())
        for line in read_lines(path):
            report.rows += 1
            record, reason = check_line(source, line, ds, config.tz)
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
