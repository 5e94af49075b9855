"""How a published file is written: atomically, once, and never changed afterwards.

Every file that leaves the pipeline is a pure function of the marts and the run
date, so a re-run writes the same bytes; different bytes over a published file
raise PublishedFileConflict.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig
from grouprebate.errors import PermanentError


class PublishedFileConflict(PermanentError):
    """A file that was already published would change."""


def write_once(path: Path, data: bytes) -> bool:
    """Write atomically; identical bytes are a no-op, different bytes are refused.

    Returns True when the file was (re)written.
    """
    if path.exists():
        if path.read_bytes() == data:
            return False
        raise PublishedFileConflict(
            f"{path} was already published with different contents; published files never "
            "change. Investigate what changed upstream instead of overwriting it."
        )
    replace_atomically(path, data)
    return True


OWNER_ONLY = 0o600


def replace_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a reader sees the old bytes or the new.

    The file is readable by its owner only from its first byte (payouts name people and
    amounts), whatever the process's umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a killed write's leftover keeps its own mode
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY), "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def local_iso(value: dt.datetime, config: CampaignConfig) -> str:
    if value.tzinfo is None:  # warehouses may hand back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(config.tz).isoformat()


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """CSV whose every field with a comma, a quote, CR or LF is quoted (RFC 4180), records
    ending in LF. Python's writer quotes only the characters of its line terminator, so a
    record is written with CR LF and its terminator then cut to LF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    out = []
    for row in (header, *rows):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        out.append(buffer.getvalue()[:-2] + "\n")
    return "".join(out).encode("utf-8")


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
