"""The campaign report of the end-to-end campaign (the DAG's build_report step, run by
the session's `campaign` fixture), opened in headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.e2e_campaign import PUBLISH

pytestmark = pytest.mark.e2e

CHARTS = ("funnel", "pools", "arrivals", "claims", "leaderboard")


def rendered(page: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and every message it wrote to the console
    (Chromium logs them to stderr as CONSOLE lines with --enable-logging)."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` installs it"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def reports(campaign) -> dict[str, Path]:
    """The report of the publish date and of the last date, by date."""
    folder = campaign["workdir"] / "reports"
    return {p.stem.removeprefix("campaign-report-"): p
            for p in sorted(folder.glob("campaign-report-*.html"))}


@pytest.fixture(scope="module")
def pages(reports) -> dict[str, tuple[str, list[str]]]:
    return {ds: rendered(page) for ds, page in reports.items()}


def test_the_dag_builds_the_report_on_the_publish_date_and_the_last_date(campaign, reports):
    assert list(reports) == [str(PUBLISH), str(campaign["config"].calendar_end)]
    for ds in reports:
        charts = campaign["workdir"] / "reports" / f"charts-{ds}"
        assert sorted(p.stem for p in charts.glob("*.svg")) == sorted(CHARTS)
        assert all(p.stat().st_size > 2000 for p in charts.glob("*.svg"))


def test_every_chart_renders_in_chromium_without_console_errors(pages):
    for ds, (dom, console) in pages.items():
        assert not console, (ds, console)
        for name in CHARTS:
            start = dom.index(f'id="chart-{name}"')
            chart = dom[start:dom.index("</section>", start)]
            assert "<svg" in chart and "role-mark" in chart, (ds, name)
            assert len(re.findall(r"<path [^>]*d=\"M", chart)) > 3, (ds, name)


def test_no_user_or_group_id_of_the_campaign_appears_in_the_report(campaign, reports, pages):
    with duckdb.connect(str(campaign["workdir"] / "warehouse.duckdb"), read_only=True) as con:
        ids = {row[0] for row in con.execute("""
            select buyer_user_id from marts.fct_attributed_orders
            union select sharer_user_id from marts.fct_attributed_orders
            union select user_id from marts.member_splits
            union select user_id from marts.payouts
            union select creator_user_id from marts.group_pools
            union select group_id from marts.group_pools
            """).fetchall() if row[0]}
    assert len(ids) > 100
    for ds, page in reports.items():
        text = page.read_text() + pages[ds][0]
        assert not [i for i in ids if i in text], ds


def test_the_report_headline_equals_the_campaign_summary(campaign, reports):
    """The last date's report against marts.campaign_summary of the same warehouse."""
    with duckdb.connect(str(campaign["workdir"] / "warehouse.duckdb"), read_only=True) as con:
        cursor = con.execute("select * from marts.campaign_summary")
        (row,) = cursor.fetchall()
        summary = dict(zip([c[0] for c in cursor.description], row, strict=True))
    page = reports[str(summary["run_ds"])].read_text()
    headline = dict(re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>",
                               page[page.index("<h2>Headline</h2>"):]))
    assert summary["paid_fen"] > 0
    for label, column in (("Attributed sales", "attributed_sales_fen"), ("Pools", "pools_fen"),
                          ("Eligible pools", "eligible_pools_fen"),
                          ("Red packets", "red_packets_fen"), ("Paid", "paid_fen"),
                          ("Forfeited", "forfeited_fen")):
        assert headline[label] == f"{summary[column]:,} fen", label
    assert headline["Share-to-purchase conversion"] == \
        f"{float(summary['share_to_purchase_conversion']):.2%}"
    assert headline["Claim rate (parts claimed / allocated)"] == \
        f"{summary['payouts'] / summary['splits']:.2%}"
