"""The campaign report's charts and page on a few hand-made rows (grouprebate/report/):
no warehouse, no browser; tests/test_report_e2e.py renders the real one in Chromium."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import vl_convert

from grouprebate.report.charts import funnel_rows, sections
from grouprebate.report.data import LABEL_CHARS, ReportData, label
from grouprebate.report.page import VL_VERSION, render_html

CAP = 5_000_000
SUMMARY = {
    "run_ds": "2018-11-15", "snapshot_ds": "2018-11-12", "is_frozen": True, "is_final": True,
    "groups": 9, "valid_groups": 6, "eligible_groups": 4, "shares": 120,
    "converted_shares": 30, "share_to_purchase_conversion": 0.25, "attributed_orders": 40,
    "attributed_sales_fen": 9_000_000, "pools_fen": 9_000_000, "eligible_pools_fen": 8_000_000,
    "winners": 2, "triggered_winners": 1, "red_packets_fen": 5_000_500, "splits": 4,
    "split_fen": 5_000_000, "payouts": 3, "paid_fen": 4_000_000, "forfeitures": 2,
    "forfeited_fen": 1_000_500, "rejected_claims": 1, "quarantined_rows": 5,
}


def report_data(has_drawn: bool = True) -> ReportData:
    return ReportData(
        campaign_id="test", ds=dt.date(2018, 11, 15), has_drawn=has_drawn,
        draw_date=dt.date(2018, 11, 12), red_packet_cap_fen=CAP, payout_sla_hours=24,
        summary=SUMMARY,
        headline={"attributed_sales": 9_000_000, "pools": 9_000_000,
                  "eligible_pools": 8_000_000, "red_packets": 5_000_500, "paid": 4_000_000,
                  "forfeited": 1_000_500, "conversion": 0.25, "claim_rate": 0.75},
        standings=[{"standing_ds": f"2018-11-{d}", "group": g, "pool_fen": p * (d - 9)}
                   for d in (10, 11, 12) for g, p in (("aaaa", 3_000_000), ("bbbb", 1_000))],
        pool_buckets=[{"lower_log10": 3.0, "eligibility": "eligible", "group_count": 3},
                      {"lower_log10": 6.8, "eligibility": "not eligible", "group_count": 1}],
        arrivals=[{"arrival_ds": "2018-11-10", "source": s, "rows_read": 100,
                   "rows_quarantined": q, "late_rows": 0, "bad_rate": q / 100,
                   "max_bad_row_rate": 0.01} for s, q in (("orders", 1), ("shares", 0))],
        claims=[{"arrival_ds": "2018-11-13", "accepted": 3, "rejected": 1}],
        payout_files=[{"export_ds": "2018-11-13", "paid": 4_000_000, "payouts": 3}],
        payout_hours=[{"hours": 10.0, "timeliness": "before due_by", "payout_count": 2},
                      {"hours": 30.0, "timeliness": "after due_by", "payout_count": 1}],
        leaderboard=[{"rank": 1, "sharer": "5ec0de5ec0de", "attributed_sales_fen": 6_000_000,
                      "attributed_orders": 20, "converted_shares": 9, "groups": 1}],
        groups_over_cap=1)


def by_name(data: ReportData) -> dict:
    return {s.name: s for s in sections(data)}


def test_every_section_has_a_chart_and_a_reading_after_the_draw():
    found = by_name(report_data())
    assert list(found) == ["funnel", "pools", "arrivals", "claims", "leaderboard"]
    for section in found.values():
        assert section.chart is not None and section.reading, section.name
    assert "2 won, and 3 of 4 parts were claimed (75%)" in found["funnel"].reading
    assert "1 of 3 payouts reached their file after the 24 h SLA" in found["claims"].reading


def test_before_the_draw_later_phases_say_not_yet():
    data = report_data(has_drawn=False)
    found = by_name(data)
    assert found["claims"].chart is None
    assert found["claims"].reading.startswith("Not yet")
    assert "not yet" in found["funnel"].reading
    counts, fen = funnel_rows(data)
    assert [r["stage"] for r in counts][-1] == "eligible groups"
    assert [r["stage"] for r in fen] == ["attributed sales", "pools", "eligible pools"]
    page = render_html(data, sections(data), "charts")
    assert page.count('class="chart"') == 4 and "Not yet." in page


def test_funnel_runs_from_shares_to_paid_and_forfeited_in_counts_and_fen():
    counts, fen = funnel_rows(report_data())
    assert [r["stage"] for r in counts] == [
        "shares", "converted shares", "attributed orders", "valid groups", "eligible groups",
        "winners", "triggered winners", "parts allocated", "parts claimed (payouts)",
        "forfeitures"]
    assert {r["stage"]: r["fen"] for r in fen}["paid"] == SUMMARY["paid_fen"]
    assert {r["stage"]: r["fen"] for r in fen}["forfeited"] == SUMMARY["forfeited_fen"]


def test_pool_distribution_is_on_a_log_scale_with_the_cap_marked():
    spec = by_name(report_data())["pools"].chart.to_dict()
    text = json.dumps(spec)
    assert '"type": "log"' in text
    assert {"cap": CAP} in [v for d in spec.get("datasets", {}).values() for v in d] or \
        f'"cap": {CAP}' in text


def test_claim_to_file_hours_are_drawn_against_the_sla():
    text = json.dumps(by_name(report_data())["claims"].chart.to_dict())
    assert '"sla": 24' in text and "after due_by" in text


def test_the_page_inlines_its_scripts_and_embeds_every_chart():
    data = report_data()
    page = render_html(data, sections(data), "charts-2018-11-15")
    assert not re.search(r"<script[^>]+src=", page), "a script loaded from elsewhere"
    assert "vegaEmbed" in page and len(page) > 500_000  # Vega, Vega-Lite and vega-embed
    assert page.count("embed('#chart-") == 5
    assert "9,000,000 fen" in page and "75.00%" in page  # headline metrics
    assert "5ec0de5ec0de" in page  # the leaderboard table


def test_every_chart_renders_offline_to_a_non_empty_svg():
    for section in sections(report_data()):
        svg = vl_convert.vegalite_to_svg(section.chart.to_dict(), vl_version=VL_VERSION)
        assert svg.startswith("<svg") and svg.count("<path") + svg.count("<line") > 3, \
            section.name


def test_labels_are_keyed_pseudonyms_not_ids():
    assert label("k1", "user-42") != label("k2", "user-42")
    assert len(label("k1", "user-42")) == LABEL_CHARS and "user" not in label("k1", "user-42")


def test_a_leaderboard_without_rows_still_reads():
    data = dataclasses.replace(report_data(), leaderboard=[])
    assert by_name(data)["leaderboard"].reading.endswith(".")
