"""The report's charts (Vega-Altair) and the one-line reading under each, built from the
rows of data.ReportData only: pure functions a fast test can call on a few rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt

from grouprebate.report.data import POOL_BUCKETS_PER_DECADE, ReportData

WIDTH = 560


@dataclass(frozen=True)
class Section:
    """One chart of the report: `chart` is None while its phase has not come ("not yet")."""

    name: str
    title: str
    reading: str
    chart: alt.TopLevelMixin | None


def _known(value: Any) -> int:
    return int(value or 0)


def funnel_rows(data: ReportData) -> tuple[list[dict], list[dict]]:
    """The funnel's stages in order, counts and fen; stages after the draw only once drawn."""
    s = data.summary
    counts = [("shares", s["shares"]), ("converted shares", s["converted_shares"]),
              ("attributed orders", s["attributed_orders"]), ("valid groups", s["valid_groups"]),
              ("eligible groups", s["eligible_groups"])]
    fen = [("attributed sales", s["attributed_sales_fen"]), ("pools", s["pools_fen"]),
           ("eligible pools", s["eligible_pools_fen"])]
    if data.has_drawn:
        counts += [("winners", s["winners"]), ("triggered winners", s["triggered_winners"]),
                   ("parts allocated", s["splits"]), ("parts claimed (payouts)", s["payouts"]),
                   ("forfeitures", s["forfeitures"])]
        fen += [("red packets", s["red_packets_fen"]), ("split", s["split_fen"]),
                ("paid", s["paid_fen"]), ("forfeited", s["forfeited_fen"])]
    return ([{"order": i, "stage": n, "count": _known(v)} for i, (n, v) in enumerate(counts)],
            [{"order": i, "stage": n, "fen": _known(v)} for i, (n, v) in enumerate(fen)])


def funnel(data: ReportData) -> Section:
    counts, fen = funnel_rows(data)
    s, h = data.summary, data.headline
    reading = (f"{_known(s['converted_shares']):,} of {_known(s['shares']):,} shares "
               f"({float(h['conversion'] or 0):.1%}) led to {_known(s['attributed_orders']):,} "
               f"attributed orders; {_known(s['eligible_groups']):,} of "
               f"{_known(s['valid_groups']):,} valid groups enter the draw")
    if data.has_drawn:
        reading += (f", {_known(s['winners']):,} won, and {_known(s['payouts']):,} of "
                    f"{_known(s['splits']):,} parts were claimed "
                    f"({float(h['claim_rate'] or 0):.0%}).")
    else:
        reading += f"; winners, claims and payouts: not yet (the draw is on {data.draw_date})."
    order = alt.EncodingSortField(field="order")
    count_bars = alt.Chart(alt.Data(values=counts), title="Counts (log scale)").mark_bar().encode(
        y=alt.Y("stage:N", sort=order, title=None),
        x=alt.X("count:Q", scale=alt.Scale(type="symlog"), title="count"),
        tooltip=["stage:N", alt.Tooltip("count:Q", format=",")],
    ).properties(width=WIDTH // 2)
    fen_bars = alt.Chart(alt.Data(values=fen), title="Money (fen)").mark_bar(
        color="#b85c00").encode(
        y=alt.Y("stage:N", sort=order, title=None),
        x=alt.X("fen:Q", title="fen"),
        tooltip=["stage:N", alt.Tooltip("fen:Q", format=",")],
    ).properties(width=WIDTH // 2)
    return Section("funnel", "The funnel: shares to payouts", reading,
                   alt.hconcat(count_bars, fen_bars))


def pools(data: ReportData) -> Section:
    """Top groups' pools by day (standings) beside the distribution of pools, cap marked."""
    cap = data.red_packet_cap_fen
    latest = max((r["standing_ds"] for r in data.standings), default=None)
    top = max((r["pool_fen"] for r in data.standings if r["standing_ds"] == latest), default=0)
    state = "frozen at the draw" if data.has_drawn else f"as of {latest}"
    reading = (f"The {len({r['group'] for r in data.standings})} largest pools by day, "
               f"{state}: the largest is {top:,} fen; {data.groups_over_cap:,} groups' pools "
               f"exceed the red-packet cap of {cap:,} fen (red line).")
    by_day = alt.Chart(alt.Data(values=data.standings),
                       title="Top groups' pools by day").mark_line(point=True).encode(
        x=alt.X("standing_ds:T", title="standings date"),
        y=alt.Y("pool_fen:Q", title="pool (fen)"),
        color=alt.Color("group:N", title="group (pseudonym)"),
        tooltip=["group:N", "standing_ds:T", alt.Tooltip("pool_fen:Q", format=",")],
    ).properties(width=WIDTH // 2)
    step = 1 / POOL_BUCKETS_PER_DECADE
    buckets = alt.Chart(alt.Data(values=data.pool_buckets),
                        title="Pools of all groups (log scale)").mark_bar().transform_calculate(
        low="pow(10, datum.lower_log10)", high=f"pow(10, datum.lower_log10 + {step})",
    ).encode(
        x=alt.X("low:Q", scale=alt.Scale(type="log"), title="pool (fen)"),
        x2="high:Q",
        y=alt.Y("sum(group_count):Q", title="groups"),
        color=alt.Color("eligibility:N", title=None),
        tooltip=[alt.Tooltip("low:Q", format=",.0f"), "eligibility:N", "sum(group_count):Q"],
    )
    cap_rule = alt.Chart(alt.Data(values=[{"cap": cap}])).mark_rule(
        color="red", strokeWidth=2).encode(x="cap:Q")
    return Section("pools", "Pools over the accumulation window", reading,
                   alt.hconcat(by_day, alt.layer(buckets, cap_rule).properties(
                       width=WIDTH // 2)).resolve_scale(color="independent"))


def arrivals(data: ReportData) -> Section:
    rows = data.arrivals
    threshold = max((r["max_bad_row_rate"] for r in rows), default=0)
    worst = max(rows, key=lambda r: r["bad_rate"], default=None)
    days = len({r["arrival_ds"] for r in rows})
    reading = (f"{sum(r['rows_read'] for r in rows):,} rows landed on {days} days; "
               f"{sum(r['rows_quarantined'] for r in rows):,} were quarantined and "
               f"{sum(r['late_rows'] for r in rows):,} arrived late")
    reading += (f"; the worst bad-row rate, {worst['bad_rate']:.2%} ({worst['source']} on "
                f"{worst['arrival_ds']}), against the {threshold:.1%} threshold (red line)."
                if worst else ".")
    base = alt.Chart(alt.Data(values=rows)).properties(width=WIDTH, height=140)
    landed = base.mark_bar().encode(
        x=alt.X("arrival_ds:O", title=None), y=alt.Y("sum(rows_read):Q", title="rows landed"),
        color=alt.Color("source:N", title="source"),
        tooltip=["arrival_ds:O", "source:N", alt.Tooltip("rows_read:Q", format=",")],
    )
    bad = base.transform_fold(["rows_quarantined", "late_rows"], as_=["kind", "rows"]).mark_bar(
    ).encode(
        x=alt.X("arrival_ds:O", title=None), y=alt.Y("sum(rows):Q", title="quarantined / late"),
        color=alt.Color("kind:N", title="rows", scale=alt.Scale(scheme="set1")),
        tooltip=["arrival_ds:O", "source:N", "kind:N", "rows:Q"],
    )
    rate = base.mark_line(point=True).encode(
        x=alt.X("arrival_ds:O", title="landing date"),
        y=alt.Y("bad_rate:Q", title="bad-row rate", axis=alt.Axis(format="%")),
        color=alt.Color("source:N"),
        tooltip=["arrival_ds:O", "source:N", alt.Tooltip("bad_rate:Q", format=".3%")],
    )
    limit = alt.Chart(alt.Data(values=[{"threshold": threshold}])).mark_rule(
        color="red", strokeDash=[4, 4]).encode(y="threshold:Q")
    return Section("arrivals", "Arrivals and data quality by day and source", reading,
                   alt.vconcat(landed, bad, alt.layer(rate, limit)).resolve_scale(
                       color="independent"))


def claims(data: ReportData) -> Section:
    title = "Claims and payouts after the draw"
    if not data.has_drawn:
        return Section("claims", title, f"Not yet: claims open with the draw on "
                                        f"{data.draw_date}.", None)
    sla = data.payout_sla_hours
    accepted = sum(r["accepted"] for r in data.claims)
    rejected = sum(r["rejected"] for r in data.claims)
    payouts = sum(r["payout_count"] for r in data.payout_hours)
    late = sum(r["payout_count"] for r in data.payout_hours
               if r["timeliness"] == "after due_by")
    reading = (f"{accepted:,} claims paid a part and {rejected:,} created nothing; "
               f"{len(data.payout_files)} payout files carry "
               f"{sum(r['paid'] or 0 for r in data.payout_files):,} fen; {late:,} of "
               f"{payouts:,} payouts reached their file after the {sla} h SLA (red line).")
    per_day = alt.Chart(alt.Data(values=data.claims), title="Claims per landing date")
    per_day = per_day.transform_fold(
        ["accepted", "rejected"], as_=["outcome", "claims"]).mark_bar().encode(
        x=alt.X("arrival_ds:O", title=None), y=alt.Y("claims:Q", title="claims"),
        color=alt.Color("outcome:N", title=None),
        tooltip=["arrival_ds:O", "outcome:N", "claims:Q"],
    ).properties(width=WIDTH // 3)
    files = alt.Chart(alt.Data(values=data.payout_files), title="Payouts per file").mark_bar(
        color="#2a7b3f").encode(
        x=alt.X("export_ds:O", title="payout file date"), y=alt.Y("paid:Q", title="fen"),
        tooltip=["export_ds:O", alt.Tooltip("paid:Q", format=","), "payouts:Q"],
    ).properties(width=WIDTH // 3)
    hours = alt.Chart(alt.Data(values=data.payout_hours),
                      title="Hours from claim to its file").mark_bar().encode(
        x=alt.X("hours:Q", bin=alt.Bin(step=1), title="hours"),
        y=alt.Y("sum(payout_count):Q", title="payouts"),
        color=alt.Color("timeliness:N", title=None,
                        scale=alt.Scale(domain=["before due_by", "after due_by"],
                                        range=["#4c78a8", "#e45756"])),
        tooltip=["hours:Q", "timeliness:N", "payout_count:Q"],
    )
    sla_rule = alt.Chart(alt.Data(values=[{"sla": sla}])).mark_rule(
        color="red", strokeWidth=2).encode(x="sla:Q")
    return Section("claims", title, reading, alt.hconcat(
        per_day, files, alt.layer(hours, sla_rule).properties(width=WIDTH // 3),
    ).resolve_scale(color="independent"))


def leaderboard(data: ReportData) -> Section:
    rows = data.leaderboard
    total = _known(data.summary["attributed_sales_fen"])
    top = sum(r["attributed_sales_fen"] for r in rows)
    reading = (f"The top {len(rows)} sharers (keyed pseudonyms) brought {top:,} fen, "
               f"{top / total if total else 0:.0%} of all attributed sales"
               + (f"; the first, {rows[0]['attributed_orders']:,} orders through "
                  f"{rows[0]['converted_shares']:,} shares." if rows else "."))
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        y=alt.Y("sharer:N", sort=alt.EncodingSortField(field="rank"), title="sharer (pseudonym)"),
        x=alt.X("attributed_sales_fen:Q", title="attributed sales (fen)"),
        tooltip=["rank:Q", "sharer:N", alt.Tooltip("attributed_sales_fen:Q", format=","),
                 "attributed_orders:Q", "converted_shares:Q", "groups:Q"],
    ).properties(width=WIDTH)
    return Section("leaderboard", "Sharer leaderboard", reading, chart)


def sections(data: ReportData) -> list[Section]:
    return [funnel(data), pools(data), arrivals(data), claims(data),
            leaderboard(data)]
