"""The rule parameters the transforms need, taken from the campaign config."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from grouprebate.config import CampaignConfig


@dataclass(frozen=True)
class RuleParams:
    accumulation_start: dt.datetime
    accumulation_end: dt.datetime
    draw_open: dt.datetime
    min_client_version: str
    group_min_members: int
    group_max_members: int
    creator_gender: str
    creator_min_naughty_value: int

    @classmethod
    def from_config(cls, config: CampaignConfig) -> RuleParams:
        return cls(
            accumulation_start=config.accumulation_start,
            accumulation_end=config.accumulation_end,
            draw_open=config.draw_open,
            min_client_version=config.min_client_version,
            group_min_members=config.group_min_members,
            group_max_members=config.group_max_members,
            creator_gender=config.creator_gender,
            creator_min_naughty_value=config.creator_min_naughty_value,
        )
