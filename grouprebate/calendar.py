"""The campaign calendar (docs/rules.md §6): which phase each nightly run date is in, and its steps.

Every layer asks this module, never compares dates itself: the attribution job
(standings, freeze or frozen), the warehouse build (whether the draw seed is
passed) and the DAG (which publishing steps run). No date is written in code.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from grouprebate.config import CampaignConfig


class Phase(StrEnum):
    """Where a run date stands against the draw."""

    STANDINGS = "standings"  # before the date of draw_open: standings as of ds
    FREEZE = "freeze"  # the date of draw_open: pools frozen, the draw made
    FROZEN = "frozen"  # after it: triggers, claims and payouts on the frozen pools

    @property
    def has_drawn(self) -> bool:
        """The run knows the draw: it needs the seed and runs the after-draw steps."""
        return self is not Phase.STANDINGS


def phase(config: CampaignConfig, ds: dt.date) -> Phase:
    if ds < config.freeze_ds:
        return Phase.STANDINGS
    return Phase.FREEZE if ds == config.freeze_ds else Phase.FROZEN


PUBLISH_SEED_DIGEST = "publish_seed_digest"
PUBLISH_DRAW_AUDIT = "publish_draw_audit"
PUBLISH_WINNER_LIST = "publish_winner_list"
EXPORT_PAYOUTS = "export_payouts"
BUILD_REPORT = "build_report"
CALENDAR_STEPS = (PUBLISH_SEED_DIGEST, PUBLISH_DRAW_AUDIT, PUBLISH_WINNER_LIST, EXPORT_PAYOUTS,
                  BUILD_REPORT)


def steps_for(config: CampaignConfig, ds: dt.date) -> list[str]:
    """The calendar-specific steps of run date ds, in CALENDAR_STEPS order.

    Before the draw the seed's digest is (re)published, identically each day;
    the draw date publishes the audit with the seed; the publish date the public
    winner list; every date from the draw onward writes its payout file. The analysts'
    campaign report is built on the publish date and on the last date.
    """
    at = phase(config, ds)
    steps = {
        PUBLISH_SEED_DIGEST: not at.has_drawn,
        PUBLISH_DRAW_AUDIT: at is Phase.FREEZE,
        PUBLISH_WINNER_LIST: ds == config.publish_date,
        EXPORT_PAYOUTS: at.has_drawn,
        BUILD_REPORT: ds in (config.publish_date, config.calendar_end),
    }
    return [name for name in CALENDAR_STEPS if steps[name]]


RUN_AT = dt.time(2, 0)  # nightly, once the day has ended and its files have landed


def run_date(logical_date: dt.datetime, config: CampaignConfig) -> dt.date:
    """The ds a DAG run processes: the campaign-timezone date of its logical date."""
    return logical_date.astimezone(config.tz).date()


def logical_date_of(ds: dt.date, config: CampaignConfig) -> dt.datetime:
    """The logical date of the run for ds: its data interval starts at RUN_AT on ds."""
    return dt.datetime.combine(ds, RUN_AT, tzinfo=config.tz)
