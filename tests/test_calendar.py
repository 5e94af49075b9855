"""The calendar of nightly runs comes from the campaign config (docs/rules.md §6)."""

import datetime as dt
import zoneinfo

from grouprebate.calendar import (
    BUILD_REPORT,
    EXPORT_PAYOUTS,
    PUBLISH_DRAW_AUDIT,
    PUBLISH_SEED_DIGEST,
    PUBLISH_WINNER_LIST,
    phase,
    run_date,
    steps_for,
)

D = dt.date


def test_before_the_draw_only_the_seed_digest_is_published(config):
    assert steps_for(config, D(2018, 10, 20)) == [PUBLISH_SEED_DIGEST]
    assert steps_for(config, D(2018, 11, 11)) == [PUBLISH_SEED_DIGEST]
    assert phase(config, D(2018, 11, 11)) == "standings"


def test_the_draw_date_publishes_the_audit_and_starts_payout_files(config):
    assert steps_for(config, D(2018, 11, 12)) == [PUBLISH_DRAW_AUDIT, EXPORT_PAYOUTS]
    assert phase(config, D(2018, 11, 12)) == "freeze"


def test_the_publish_date_publishes_the_winner_list_and_builds_the_report(config):
    assert steps_for(config, D(2018, 11, 13)) == [PUBLISH_WINNER_LIST, EXPORT_PAYOUTS,
                                                  BUILD_REPORT]


def test_every_date_after_the_draw_writes_its_payout_file(config):
    assert steps_for(config, D(2018, 11, 20)) == [EXPORT_PAYOUTS]


def test_the_last_calendar_date_builds_the_report_again(config):
    assert steps_for(config, config.calendar_end) == [EXPORT_PAYOUTS, BUILD_REPORT]
    assert phase(config, D(2018, 11, 20)) == "frozen"


def test_phases_follow_the_config_not_dates_in_code(config):
    import dataclasses

    later = dataclasses.replace(
        config,
        draw_open=dt.datetime(2019, 11, 12, 8, tzinfo=dt.UTC),
        publish_date=D(2019, 11, 14),
    )
    assert steps_for(later, D(2018, 11, 12)) == [PUBLISH_SEED_DIGEST]
    assert steps_for(later, D(2019, 11, 14)) == [PUBLISH_WINNER_LIST, EXPORT_PAYOUTS,
                                                 BUILD_REPORT]


def test_run_date_is_the_campaign_timezone_date_of_the_logical_date(config):
    start = dt.datetime(2018, 11, 11, 18, 0, tzinfo=dt.UTC)  # 02:00 on 11-12 in Shanghai
    assert run_date(start, config) == D(2018, 11, 12)
    assert run_date(start.astimezone(zoneinfo.ZoneInfo("America/New_York")), config) == D(
        2018, 11, 12
    )
