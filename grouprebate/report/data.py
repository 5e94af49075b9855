"""What the report shows, read from the marts with SQL (and the metrics through
MetricFlow): rows only, no campaign rule recomputed here. Ids of people never leave this
module; sharers and groups leave as keyed pseudonyms (publish.winner_list.pseudonym)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from grouprebate.calendar import phase
from grouprebate.config import CampaignConfig
from grouprebate.publish.winner_list import pseudonym
from grouprebate.report.metrics import Metrics
from grouprebate.warehouse.marts import Query

TOP_GROUPS = 10
TOP_SHARERS = 20
# Pools are bucketed by fifths of a power of ten for the log-scale distribution.
POOL_BUCKETS_PER_DECADE = 5
# Characters of a pseudonym shown: enough to tell entries apart and to find a group in
# the public winner list, which holds the whole HMAC.
LABEL_CHARS = 12

SUMMARY_COLUMNS = (
    "run_ds", "snapshot_ds", "is_frozen", "is_final", "groups", "valid_groups",
    "eligible_groups", "shares", "converted_shares", "share_to_purchase_conversion",
    "attributed_orders", "attributed_sales_fen", "pools_fen", "eligible_pools_fen", "winners",
    "triggered_winners", "red_packets_fen", "splits", "split_fen", "payouts", "paid_fen",
    "forfeitures", "forfeited_fen", "rejected_claims", "quarantined_rows",
)


@dataclass(frozen=True)
class ReportData:
    campaign_id: str
    ds: dt.date
    has_drawn: bool
    draw_date: dt.date
    red_packet_cap_fen: int
    payout_sla_hours: int
    summary: dict[str, Any]
    headline: dict[str, Any]
    standings: list[dict[str, Any]]
    pool_buckets: list[dict[str, Any]]
    arrivals: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    payout_files: list[dict[str, Any]]
    payout_hours: list[dict[str, Any]]
    leaderboard: list[dict[str, Any]]
    groups_over_cap: int


def _plain(value: Any) -> Any:
    """A value as JSON holds it in a chart's data: dates as ISO strings, decimals as floats."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def records(query: Query, sql: str, names: tuple[str, ...], params: list | None = None
            ) -> list[dict[str, Any]]:
    return [{n: _plain(v) for n, v in zip(names, row, strict=True)}
            for row in query(sql, params or [])]


def label(key: str, identifier: str) -> str:
    return pseudonym(key, identifier)[:LABEL_CHARS]


def read_report_data(query: Query, metrics: Metrics, config: CampaignConfig, key: str
                     ) -> ReportData:
    (summary,) = records(query, f"select {', '.join(SUMMARY_COLUMNS)} "
                                "from marts.campaign_summary", SUMMARY_COLUMNS)
    ds = dt.date.fromisoformat(summary["run_ds"])
    standings = records(query, """
        with latest as (
            select max(standing_ds) as standing_ds from marts.group_standings_daily
        ),
        top_groups as (
            select standings.group_id
            from marts.group_standings_daily as standings
            inner join latest on standings.standing_ds = latest.standing_ds
            order by standings.pool_rank, standings.group_id
            limit ?
        )
        select standings.standing_ds, standings.group_id, standings.pool_fen
        from marts.group_standings_daily as standings
        inner join top_groups on standings.group_id = top_groups.group_id
        order by standings.standing_ds, standings.group_id
        """, ("standing_ds", "group", "pool_fen"), [TOP_GROUPS])
    for row in standings:
        row["group"] = label(key, row["group"])
    pool_buckets = records(query, f"""
        select
            floor(log10(pool_fen) * {POOL_BUCKETS_PER_DECADE}) / {POOL_BUCKETS_PER_DECADE}
                as lower_log10,
            case when is_eligible then 'eligible' else 'not eligible' end as eligibility,
            count(*) as group_count
        from marts.group_pools
        where pool_fen > 0
        group by 1, 2
        order by 1, 2
        """, ("lower_log10", "eligibility", "group_count"))
    arrivals = records(query, """
        select arrival_ds, landing_source, rows_read, rows_quarantined, late_rows, bad_rate,
               max_bad_row_rate
        from marts.arrivals_daily
        order by arrival_ds, landing_source
        """, ("arrival_ds", "source", "rows_read", "rows_quarantined", "late_rows",
              "bad_rate", "max_bad_row_rate"))
    claims = records(query, """
        select arrival_ds, claims_accepted, claims_rejected
        from marts.claims_daily
        order by arrival_ds
        """, ("arrival_ds", "accepted", "rejected"))
    payout_hours = records(query, """
        select
            floor(hours_to_file) as hours,
            case when is_file_before_due then 'before due_by' else 'after due_by' end
                as timeliness,
            count(*) as payout_count
        from marts.payout_timeliness
        group by 1, 2
        order by 1, 2
        """, ("hours", "timeliness", "payout_count"))
    payout_files = [
        {"export_ds": _plain(row["payout__export_ds__day"])[:10], "paid": row["paid"],
         "payouts": row["payouts"]}
        for row in metrics.query(("paid", "payouts"), ("payout__export_ds__day",))]
    leaderboard = records(query, """
        select sharer_rank, sharer_user_id, attributed_sales_fen, attributed_orders,
               converted_shares, groups
        from marts.sharer_leaderboard
        order by sharer_rank, sharer_user_id
        limit ?
        """, ("rank", "sharer", "attributed_sales_fen", "attributed_orders",
              "converted_shares", "groups"), [TOP_SHARERS])
    for row in leaderboard:
        row["sharer"] = label(key, row["sharer"])
    return ReportData(
        campaign_id=config.campaign_id, ds=ds, has_drawn=phase(config, ds).has_drawn,
        draw_date=config.freeze_ds, red_packet_cap_fen=config.red_packet_cap_fen,
        payout_sla_hours=config.payout_sla_hours, summary=summary,
        headline={k: _plain(v) for k, v in metrics.headline().items()},
        standings=standings, pool_buckets=pool_buckets, arrivals=arrivals, claims=claims,
        payout_files=payout_files, payout_hours=payout_hours, leaderboard=leaderboard,
        groups_over_cap=query("select count(*) from marts.group_pools where pool_fen > ?",
                              [config.red_packet_cap_fen])[0][0])
