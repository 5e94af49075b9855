"""The input contract of the landing zone (docs/rules.md §3): one definition per source.

The generator writes to it, `grouprebate validate` and the tests check against
it in plain Python, and the Spark ingest job builds its schema and its checks
from the very same `Field` list, so the three can never drift apart.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})"
)
TIMESTAMP_NO_OFFSET_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?")
VERSION_RE = re.compile(r"\d{1,9}(\.\d{1,9}){0,9}")  # up to 10 components
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FUTURE_SKEW = dt.timedelta(hours=1)
# Limits of the JSON parser behind the Spark ingest (Jackson's defaults), so both readers
# call the same lines unparseable: 1000 levels of nesting, minus the one the ingest wraps
# each line in to prove it holds a single value; numbers of at most 1000 characters.
MAX_JSON_DEPTH = 999
MAX_NUMBER_CHARS = 1000
BOM = b"\xef\xbb\xbf"
# JSON's whitespace: a line of only these is blank (skipped, not a row).
BLANK = " \t"

# Field kinds
ID, TEXT, INT, TIMESTAMP, ENUM, VERSION = "id", "text", "int", "timestamp", "enum", "version"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One landing source: its fields, its dedup key, its event time and its parent."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    event_time: str
    parent: tuple[str, str] | None = None  # (field, parent source) for orphan reports

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def shortest_line_bytes(self) -> int:
        """Bytes of the shortest line the contract accepts (every field, no spaces, each
        value as short as its kind allows), so a day's bytes bound its rows."""
        return 1 + sum(len(json.dumps(f.name)) + 2 + _shortest_value(f) for f in self.fields)


def _shortest_value(field: Field) -> int:
    """Characters of the shortest JSON value a field accepts (escapes only lengthen)."""
    return {ID: len('"x"'), TEXT: len('""'), INT: 1, VERSION: len('"8"'),
            TIMESTAMP: len('"2018-11-11T00:00:00Z"'),
            ENUM: 2 + min(map(len, field.choices), default=0)}[field.kind]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "users",
            (Field("user_id", ID), Field("gender", ENUM, choices=("F", "M", "U")),
             Field("naughty_value", INT, minimum=0), Field("valid_from", TIMESTAMP)),
            key=("user_id", "valid_from"), event_time="valid_from",
        ),
        Source(
            "groups",
            (Field("group_id", ID), Field("creator_user_id", ID), Field("name", TEXT),
             Field("created_at", TIMESTAMP)),
            key=("group_id",), event_time="created_at",
        ),
        Source(
            "memberships",
            (Field("event_id", ID), Field("group_id", ID), Field("user_id", ID),
             Field("action", ENUM, choices=("join", "leave")), Field("event_time", TIMESTAMP)),
            key=("event_id",), event_time="event_time", parent=("group_id", "groups"),
        ),
        Source(
            "shares",
            (Field("share_id", ID), Field("group_id", ID), Field("sharer_user_id", ID),
             Field("item_id", ID), Field("shared_at", TIMESTAMP),
             Field("client_version", VERSION)),
            key=("share_id",), event_time="shared_at", parent=("group_id", "groups"),
        ),
        Source(
            "orders",
            (Field("order_id", ID), Field("buyer_user_id", ID), Field("item_id", ID),
             Field("seller_id", ID), Field("total_fen", INT, minimum=1),
             Field("created_at", TIMESTAMP), Field("client_version", VERSION)),
            key=("order_id",), event_time="created_at",
        ),
        Source(
            "payments",
            (Field("payment_id", ID), Field("order_id", ID), Field("stage", INT, minimum=1),
             Field("amount_fen", INT, minimum=1), Field("paid_at", TIMESTAMP)),
            key=("payment_id",), event_time="paid_at", parent=("order_id", "orders"),
        ),
        Source(
            "refunds",
            (Field("refund_id", ID), Field("order_id", ID), Field("amount_fen", INT, minimum=1),
             Field("refunded_at", TIMESTAMP)),
            key=("refund_id",), event_time="refunded_at", parent=("order_id", "orders"),
        ),
        Source(
            "draws",
            (Field("event_id", ID), Field("group_id", ID), Field("user_id", ID),
             Field("drawn_at", TIMESTAMP)),
            key=("event_id",), event_time="drawn_at", parent=("group_id", "groups"),
        ),
        Source(
            "claims",
            (Field("event_id", ID), Field("group_id", ID), Field("user_id", ID),
             Field("claimed_at", TIMESTAMP)),
            key=("event_id",), event_time="claimed_at", parent=("group_id", "groups"),
        ),
    ]
}


# Quarantine reasons: the Spark ingest job emits exactly these texts.
REASON_UNPARSEABLE = "unparseable line: not a JSON object"
REASON_NOT_UTF8 = "unparseable line: not valid UTF-8"
REASON_TOO_LONG = "line longer than landing.max_line_bytes"


def reason_missing(field: str) -> str:
    return f"missing field {field}"


def reason_mistyped(field: Field) -> str:
    expected = "integer" if field.kind == INT else "string"
    return f"mistyped field {field.name}: expected a JSON {expected}"


def reason_invalid(field: Field) -> str:
    if field.kind == ID:
        return f"invalid {field.name}: empty id"
    if field.kind == INT:
        return f"invalid {field.name}: must be >= {field.minimum}"
    if field.kind == ENUM:
        return f"invalid {field.name}: not one of {'/'.join(field.choices)}"
    if field.kind == VERSION:
        return f"invalid {field.name}: not a dotted version like 8.1.0"
    if field.kind == TIMESTAMP:
        return f"invalid {field.name}: not an ISO-8601 timestamp"
    raise ValueError(field.kind)


def reason_no_offset(field: str) -> str:
    return f"invalid {field}: timestamp without UTC offset"


def reason_future(field: str) -> str:
    return f"event from the future: {field} after the end of its ds plus 1 hour"


def reason_conflict(key: tuple[str, ...]) -> str:
    return f"id conflict: {'+'.join(key)} arrived earlier with different content"


def parse_timestamp(text: str) -> dt.datetime | None:
    """An aware UTC datetime for a contract timestamp, or None if it is not one."""
    if not TIMESTAMP_RE.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    except ValueError:
        return None


def bad_row_rate(bad: int, rows: int) -> float:
    return bad / rows if rows else 0.0


def passes_bad_row_gate(bad: int, rows: int, max_bad_row_rate: float) -> bool:
    """The landing gate: one source's bad rows in one landing partition within the rate;
    over it, the day fails before anything downstream is published."""
    return bad_row_rate(bad, rows) <= max_bad_row_rate


def ds_deadline(ds: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Latest event time accepted in landing partition ds: its end plus the clock skew."""
    end = dt.datetime.combine(ds + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return end + FUTURE_SKEW


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return float(text)


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in a JSON text (brackets in strings aside)."""
    depth = deepest = 0
    for char in _STRING_RE.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json_line(text: str) -> Any:
    """One JSON value, or ValueError: strict JSON as the Spark ingest's parser reads it
    (no NaN, no repeated key, no lone surrogate, bounded depth and number length)."""
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError("nested too deep")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + MAX_JSON_DEPTH)  # the decoder recurses once per level
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_int=_parse_int,
                           parse_float=_parse_float, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None
    finally:
        sys.setrecursionlimit(limit)
    if _SURROGATE_ESCAPE_RE.search(text):
        json.dumps(value, ensure_ascii=False).encode()  # UnicodeEncodeError is a ValueError
    return value


@dataclass(frozen=True)
class Checked:
    """What the contract makes of one line: a typed record or a reason, and whether
    the line was an object carrying fields beyond the contract's (ignored, counted)."""

    record: dict[str, Any] | None
    reason: str | None
    extra_fields: bool = False


def check_text(source: Source, line: str, ds: dt.date, tz: dt.tzinfo) -> Checked:
    """Judge one decoded, non-blank landing line (check_raw_line handles the bytes)."""
    try:
        obj = parse_json_line(line)
    except ValueError:
        return Checked(None, REASON_UNPARSEABLE)
    if not isinstance(obj, dict):
        return Checked(None, REASON_UNPARSEABLE)
    extra = not obj.keys() <= set(source.field_names)
    record: dict[str, Any] = {}
    for field in source.fields:
        value = obj.get(field.name)
        if value is None:
            return Checked(None, reason_missing(field.name), extra)
        typed, reason = _check_value(field, value)
        if reason:
            return Checked(None, reason, extra)
        record[field.name] = typed
    if record[source.event_time] > ds_deadline(ds, tz):
        return Checked(None, reason_future(source.event_time), extra)
    return Checked(record, None, extra)


def is_blank(line: bytes) -> bool:
    return line.strip(BLANK.encode()) == b""


def check_raw_line(
    source: Source, raw: bytes, first: bool, ds: dt.date, tz: dt.tzinfo
) -> Checked | None:
    """One physical line of a file as both readers judge it, or None for a blank line.

    `first`: the file's first line, which may start with a UTF-8 byte-order mark.
    """
    if first and raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Checked(None, REASON_NOT_UTF8)
    if is_blank(raw):
        return None
    return check_text(source, text, ds, tz)


# The checks of one field, in the order both readers apply them (this module's
# check_text and the Spark ingest job's spark_jobs.contract_columns): the first that
# fails gives the row's quarantine reason.
MISSING, MISTYPED, BELOW_MINIMUM, EMPTY, NOT_A_CHOICE, NOT_A_VERSION, NO_OFFSET, NOT_A_TIMESTAMP = (
    "missing", "mistyped", "below_minimum", "empty", "not_a_choice", "not_a_version",
    "no_offset", "not_a_timestamp")


def field_checks(field: Field) -> list[tuple[str, str]]:
    """(check, quarantine reason) of a field, in the order they are applied."""
    checks = [(MISSING, reason_missing(field.name)), (MISTYPED, reason_mistyped(field))]
    if field.kind == INT and field.minimum is not None:
        checks.append((BELOW_MINIMUM, reason_invalid(field)))
    elif field.kind == ID:
        checks.append((EMPTY, reason_invalid(field)))
    elif field.kind == ENUM:
        checks.append((NOT_A_CHOICE, reason_invalid(field)))
    elif field.kind == VERSION:
        checks.append((NOT_A_VERSION, reason_invalid(field)))
    elif field.kind == TIMESTAMP:
        checks += [(NO_OFFSET, reason_no_offset(field.name)),
                   (NOT_A_TIMESTAMP, reason_invalid(field))]
    return checks


def _is_json_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (
        INT64_MIN <= value <= INT64_MAX)


def _fails(check: str, field: Field, value: Any) -> bool:
    """Whether a present value fails one check (a failed MISTYPED check ends the field)."""
    if check == MISTYPED:
        return not (_is_json_integer(value) if field.kind == INT else isinstance(value, str))
    return {
        BELOW_MINIMUM: lambda: value < field.minimum,
        EMPTY: lambda: value == "",
        NOT_A_CHOICE: lambda: value not in field.choices,
        NOT_A_VERSION: lambda: not VERSION_RE.fullmatch(value),
        NO_OFFSET: lambda: TIMESTAMP_NO_OFFSET_RE.fullmatch(value) is not None,
        NOT_A_TIMESTAMP: lambda: parse_timestamp(value) is None,
    }[check]()


def _check_value(field: Field, value: Any) -> tuple[Any, str | None]:
    for check, reason in field_checks(field):
        if check != MISSING and _fails(check, field, value):
            return None, reason
    return (parse_timestamp(value) if field.kind == TIMESTAMP else value), None
