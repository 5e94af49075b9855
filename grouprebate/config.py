"""The campaign config (docs/rules.md §2): one YAML file holds every rule parameter.

Loading validates everything up front, so a bad file fails with one line that
names the key, never later inside Spark or dbt.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from grouprebate.contract import VERSION_RE, parse_timestamp
from grouprebate.secrets import read_secret


class ConfigError(ValueError):
    """A campaign config that cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class CampaignConfig:
    campaign_id: str
    timezone: str
    calendar_start: dt.date
    accumulation_start: dt.datetime
    accumulation_end: dt.datetime
    draw_open: dt.datetime
    claim_window_hours: int
    payout_sla_hours: int
    publish_date: dt.date
    min_client_version: str
    group_min_members: int
    group_max_members: int
    creator_gender: str
    creator_min_naughty_value: int
    red_packet_cap_fen: int
    draw_winner_count: int
    draw_seed_env: str
    # None only when loaded with need_seed=False (e.g. the generator); never in a repr,
    # so no log line or error message that prints the config reveals it.
    draw_seed: str | None = field(repr=False)
    pseudonym_key_env: str
    max_bad_row_rate: float
    min_eligible_share: float = 0.01
    max_eligible_share: float = 0.9
    max_capped_red_packet_share: float = 0.5
    max_line_bytes: int = 16 * 2**20
    max_file_bytes: int = 4 * 2**30
    payout_max_rows_per_file: int = 2000
    # The public list shows a winner's red packet only from this many members up: a small
    # group's packet comes close to revealing what each member spent (docs/draw.md).
    red_packet_min_members: int = 10

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def business_date(self, instant: dt.datetime) -> dt.date:
        """The campaign-timezone date (a ds) of an instant."""
        return instant.astimezone(self.tz).date()

    @property
    def freeze_ds(self) -> dt.date:
        """The run date that freezes pools and draws: the date of draw_open."""
        return self.business_date(self.draw_open)

    @property
    def claim_window(self) -> dt.timedelta:
        return dt.timedelta(hours=self.claim_window_hours)

    @property
    def calendar_end(self) -> dt.date:
        """Last nightly run: draw_open + 2 claim windows has closed, plus a day for late data."""
        last_claim_close = self.draw_open + 2 * self.claim_window
        return self.business_date(last_claim_close) + dt.timedelta(days=1)

    def calendar(self) -> list[dt.date]:
        """Every nightly run date, in order."""
        days = (self.calendar_end - self.calendar_start).days
        return [self.calendar_start + dt.timedelta(days=i) for i in range(days + 1)]

    def pseudonym_key(self, env: Mapping[str, str] | None = None) -> str:
        """The secret for the public list's pseudonyms, read only when publishing."""
        key = read_secret(self.pseudonym_key_env, env)
        if not key:
            raise ConfigError(
                f"publish.pseudonym_key_env: environment variable {self.pseudonym_key_env} "
                "is not set; export the secret pseudonym key before publishing"
            )
        return key


# key -> (type, required); nested mappings hold their own spec.
_SPEC: dict[str, Any] = {
    "campaign_id": str,
    "timezone": str,
    "calendar_start": "date",
    "accumulation_start": "timestamp",
    "accumulation_end": "timestamp",
    "draw_open": "timestamp",
    "claim_window_hours": int,
    "payout_sla_hours": int,
    "publish_date": "date",
    "min_client_version": str,
    "group_min_members": int,
    "group_max_members": int,
    "creator_gender": str,
    "creator_min_naughty_value": int,
    "red_packet_cap_fen": int,
    "draw": {"winner_count": int, "seed_env": str},
    "publish": {"pseudonym_key_env": str, "red_packet_min_members": int},
    "quality": {"max_bad_row_rate": float, "min_eligible_share": float,
                "max_eligible_share": float, "max_capped_red_packet_share": float},
    "landing": {"max_line_bytes": int, "max_file_bytes": int},
    "payout": {"max_rows_per_file": int},
}
_OPTIONAL = {"quality", "quality.max_bad_row_rate",
             "quality.min_eligible_share", "quality.max_eligible_share",
             "quality.max_capped_red_packet_share", "landing", "landing.max_line_bytes",
             "landing.max_file_bytes", "payout", "payout.max_rows_per_file",
             "publish.red_packet_min_members"}
_DEFAULT_MAX_BAD_ROW_RATE = 0.01
CAMPAIGN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Spark's JSON parser reads strings of at most 20 million characters: a longer line
# limit would let the two readers disagree on a line.
MAX_LINE_BYTES_CEILING = 16 * 2**20
# The payment rails finance loads batches into accept at most this many detail rows.
MAX_ROWS_PER_PAYOUT_FILE_CEILING = 3000


def _check_keys(raw: Mapping[str, Any], spec: Mapping[str, Any], prefix: str) -> None:
    for key in raw:
        if key not in spec:
            raise ConfigError(f"{prefix}{key}: unknown key (allowed: {', '.join(spec)})")
    for key, kind in spec.items():
        dotted = f"{prefix}{key}"
        if key not in raw:
            if dotted not in _OPTIONAL:
                raise ConfigError(f"{dotted}: missing required key")
            continue
        if isinstance(kind, dict):
            if not isinstance(raw[key], Mapping):
                raise ConfigError(f"{dotted}: expected a mapping, got {type(raw[key]).__name__}")
            _check_keys(raw[key], kind, f"{dotted}.")


def _typed(raw: Mapping[str, Any], dotted: str, kind: Any) -> Any:
    value: Any = raw
    for part in dotted.split("."):
        value = value[part]
    if kind == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{dotted}: expected a date YYYY-MM-DD, got {value!r}") from None
    if kind == "timestamp":
        text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
        parsed = parse_timestamp(text)
        if parsed is None:
            raise ConfigError(
                f"{dotted}: expected an ISO-8601 timestamp with an offset, got {value!r}"
            )
        return parsed
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{dotted}: expected a number, got {value!r}")
        return float(value)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{dotted}: expected a string, got {value!r}")
    return value


def _flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, kind in spec.items():
        if isinstance(kind, dict):
            flat.update(_flatten(kind, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = kind
    return flat


def _resolve_seed(values: dict[str, Any], env: Mapping[str, str] | None) -> str:
    name = values["draw.seed_env"]
    seed = read_secret(name, env)
    if not seed:
        raise ConfigError(
            f"draw.seed_env: environment variable {name} is not set; export the draw seed"
        )
    return seed


def _check_calendar(c: CampaignConfig) -> None:
    rules = [
        (c.accumulation_start < c.accumulation_end,
         "accumulation_end must be after accumulation_start"),
        (c.accumulation_end <= c.draw_open, "draw_open must not be before accumulation_end"),
        (c.calendar_start <= c.business_date(c.accumulation_start),
         "calendar_start must be on or before the date of accumulation_start"),
        (c.publish_date >= c.freeze_ds, "publish_date must not be before the date of draw_open"),
        (c.publish_date <= c.calendar_end, "publish_date must fall inside the run calendar"),
        (c.claim_window_hours > 0, "claim_window_hours must be positive"),
        (c.payout_sla_hours > 0, "payout_sla_hours must be positive"),
        (0 < c.group_min_members <= c.group_max_members,
         "group_min_members must be between 1 and group_max_members"),
        (c.creator_gender in ("F", "M", "U"), "creator_gender must be one of F, M, U"),
        (c.creator_min_naughty_value >= 0, "creator_min_naughty_value must be >= 0"),
        (c.red_packet_cap_fen > 0, "red_packet_cap_fen must be a positive number of fen"),
        (c.draw_winner_count > 0, "draw.winner_count must be positive"),
        (0 <= c.max_bad_row_rate < 1, "quality.max_bad_row_rate must be in [0, 1)"),
        (0 <= c.min_eligible_share <= c.max_eligible_share <= 1,
         "quality.min_eligible_share and max_eligible_share must satisfy 0 <= min <= max <= 1"),
        (0 <= c.max_capped_red_packet_share <= 1,
         "quality.max_capped_red_packet_share must be in [0, 1]"),
        (0 < c.max_line_bytes <= MAX_LINE_BYTES_CEILING,
         f"landing.max_line_bytes must be between 1 and {MAX_LINE_BYTES_CEILING} (16 MiB)"),
        (c.max_line_bytes <= c.max_file_bytes,
         "landing.max_file_bytes must be at least landing.max_line_bytes"),
        (0 < c.payout_max_rows_per_file <= MAX_ROWS_PER_PAYOUT_FILE_CEILING,
         "payout.max_rows_per_file must be between 1 and "
         f"{MAX_ROWS_PER_PAYOUT_FILE_CEILING} (the payment rails' largest batch)"),
        (c.red_packet_min_members > 0, "publish.red_packet_min_members must be positive"),
        (VERSION_RE.fullmatch(c.min_client_version) is not None,
         "min_client_version must be dotted non-negative integers like 8.1.0"),
        (CAMPAIGN_ID_RE.fullmatch(c.campaign_id) is not None,
         "campaign_id must be letters, digits, '.', '_' or '-', starting with a letter or "
         "digit: it names files, which must stay in their folders"),
    ]
    for ok, message in rules:
        if not ok:
            raise ConfigError(message)


def parse_config(
    raw: Any, env: Mapping[str, str] | None = None, need_seed: bool = True
) -> CampaignConfig:
    """Validate a parsed YAML document; `env` supplies secrets named by *_env keys
    (default: the process environment, then Airflow's secrets backend).

    need_seed=False is for tools that never draw (the generator, contract checks).
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("the campaign config must be a YAML mapping of keys to values")
    if isinstance(raw.get("draw"), Mapping) and "seed" in raw["draw"]:
        raise ConfigError("draw.seed: the draw seed is a secret and never sits in the config "
                          "file; name the environment variable that holds it in draw.seed_env")
    _check_keys(raw, _SPEC, "")
    values = {
        dotted: _typed(raw, dotted, kind)
        for dotted, kind in _flatten(_SPEC).items()
        if dotted not in _OPTIONAL or _present(raw, dotted)
    }
    try:
        ZoneInfo(values["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown IANA zone {values['timezone']!r}") from None
    config = CampaignConfig(
        campaign_id=values["campaign_id"],
        timezone=values["timezone"],
        calendar_start=values["calendar_start"],
        accumulation_start=values["accumulation_start"],
        accumulation_end=values["accumulation_end"],
        draw_open=values["draw_open"],
        claim_window_hours=values["claim_window_hours"],
        payout_sla_hours=values["payout_sla_hours"],
        publish_date=values["publish_date"],
        min_client_version=values["min_client_version"],
        group_min_members=values["group_min_members"],
        group_max_members=values["group_max_members"],
        creator_gender=values["creator_gender"],
        creator_min_naughty_value=values["creator_min_naughty_value"],
        red_packet_cap_fen=values["red_packet_cap_fen"],
        draw_winner_count=values["draw.winner_count"],
        draw_seed_env=values["draw.seed_env"],
        draw_seed=_resolve_seed(values, env) if need_seed else None,
        pseudonym_key_env=values["publish.pseudonym_key_env"],
        max_bad_row_rate=values.get("quality.max_bad_row_rate", _DEFAULT_MAX_BAD_ROW_RATE),
        **{key: values[f"quality.{key}"] for key in
           ("min_eligible_share", "max_eligible_share", "max_capped_red_packet_share")
           if f"quality.{key}" in values},
        **{key: values[f"landing.{key}"] for key in ("max_line_bytes", "max_file_bytes")
           if f"landing.{key}" in values},
        **({"payout_max_rows_per_file": values["payout.max_rows_per_file"]}
           if "payout.max_rows_per_file" in values else {}),
        **({"red_packet_min_members": values["publish.red_packet_min_members"]}
           if "publish.red_packet_min_members" in values else {}),
    )
    _check_calendar(config)
    return config


def _present(raw: Mapping[str, Any], dotted: str) -> bool:
    value: Any = raw
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True


def load_config(
    path: str | Path, env: Mapping[str, str] | None = None, need_seed: bool = True
) -> CampaignConfig:
    """Read and validate a campaign config file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: campaign config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    try:
        return parse_config(raw, env, need_seed)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
