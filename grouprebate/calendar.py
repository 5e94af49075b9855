"""What each nightly run date does, derived from the campaign config (SPEC §6).

The DAG branches on these names; no date is written in code.
"""

from __future__ import annotations

import datetime as dt

from grouprebate.config import CampaignConfig

PUBLISH_SEED_DIGEST = "publish_seed_digest"
PUBLISH_DRAW_AUDIT = "publish_draw_audit"
PUBLISH_WINNER_LIST = "publish_winner_list"
EXPORT_PAYOUTS = "export_payouts"
CALENDAR_STEPS = (PUBLISH_SEED_DIGEST, PUBLISH_DRAW_AUDIT, PUBLISH_WINNER_LIST, EXPORT_PAYOUTS)


def phase(config: CampaignConfig, ds: dt.date) -> str:
    """'standings' before the draw date, 'draw' on it, 'claims' after it."""
    if ds < config.freeze_ds:
        return "standings"
    return "draw" if ds == config.freeze_ds else "claims"


def steps_for(config: CampaignConfig, ds: dt.date) -> list[str]:
    """The calendar-specific steps of run date ds, in CALENDAR_STEPS order.

    Before the draw the seed's digest is (re)published, identically each day;
    the draw date publishes the audit with the seed; the publish date the public
    winner list; every date from the draw onward writes its payout file.
    """
    steps = {
        PUBLISH_SEED_DIGEST: ds < config.freeze_ds,
        PUBLISH_DRAW_AUDIT: ds == config.freeze_ds,
        PUBLISH_WINNER_LIST: ds == config.publish_date,
        EXPORT_PAYOUTS: ds >= config.freeze_ds,
    }
    return [name for name in CALENDAR_STEPS if steps[name]]


RUN_AT = dt.time(2, 0)  # nightly, once the day has ended and its files have landed


def run_date(logical_date: dt.datetime, config: CampaignConfig) -> dt.date:
    """The ds a DAG run processes: the campaign-timezone date of its logical date."""
    return logical_date.astimezone(config.tz).date()


def logical_date_of(ds: dt.date, config: CampaignConfig) -> dt.datetime:
    """The logical date of the run for ds: its data interval starts at RUN_AT on ds."""
    return dt.datetime.combine(ds, RUN_AT, tzinfo=config.tz)


def in_calendar(config: CampaignConfig, ds: dt.date) -> bool:
    return config.calendar_start <= ds <= config.calendar_end
