"""The campaign report built from a real warehouse (the hand-built fixture lake,
tests/dbt_fixtures.py) before and after the draw, and `grouprebate report`'s refusals."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from dbt.parser.manifest import write_semantic_manifest

from grouprebate import cli
from grouprebate.report.build import render_report
from grouprebate.report.metrics import Metrics, read_only_query
from grouprebate.report.page import vega_bundle
from tests import dbt_fixtures as fx

BEFORE_DRAW = dt.date(2018, 11, 11)


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> fx.DbtHarness:
    return fx.parsed_harness(tmp_path_factory, config)


@pytest.fixture(scope="module")
def metrics_of(dbt, tmp_path_factory):
    out = tmp_path_factory.mktemp("semantic-report")
    write_semantic_manifest(dbt.manifest, str(out))
    return lambda path: Metrics(out / "semantic_manifest.json", read_only_query(path))


def user_ids(path) -> set[str]:
    rows = fx.query(path, """
        select buyer_user_id as id from marts.fct_attributed_orders
        union select sharer_user_id from marts.fct_attributed_orders
        union select user_id from marts.member_splits
        union select creator_user_id from marts.group_pools""")
    return {r["id"] for r in rows if r["id"]}


def test_report_after_the_draw_has_every_chart_and_no_user_id(dbt, metrics_of, tmp_path):
    path = dbt.build(fx.LAST_DS)
    page = render_report(read_only_query(path), metrics_of(path), dbt.config, "k3y", tmp_path)
    assert page.name == f"campaign-report-{fx.LAST_DS}.html"
    text = page.read_text()
    assert vega_bundle() in text
    own = text.replace(vega_bundle(), "")  # the fixture's ids (x1, m10) are JS names too
    charts = sorted(p.stem for p in (tmp_path / f"charts-{fx.LAST_DS}").glob("*.svg"))
    assert charts == ["arrivals", "claims", "funnel", "leaderboard", "pools"]
    ids = user_ids(path)
    # as a JSON string value (chart data) or a table cell; the ids are short enough
    # (x2, k1) to be names of Vega-Lite channels and keys too
    shown = [i for i in ids
             if re.search(rf'(?:[:\[,]\s*"{re.escape(i)}"(?!\s*:)|>{re.escape(i)}<)', own)]
    assert ids and not shown
    (summary,) = fx.query(path, "select paid_fen, pools_fen from marts.campaign_summary")
    assert f"{summary['paid_fen']:,} fen" in text and f"{summary['pools_fen']:,} fen" in text


def test_report_before_the_draw_says_not_yet_for_claims(dbt, metrics_of, tmp_path):
    path = dbt.build(BEFORE_DRAW)
    page = render_report(read_only_query(path), metrics_of(path), dbt.config, "k3y", tmp_path)
    text = page.read_text()
    assert "Not yet: claims open with the draw on 2018-11-12." in text
    assert not (tmp_path / f"charts-{BEFORE_DRAW}" / "claims.svg").exists()
    assert (tmp_path / f"charts-{BEFORE_DRAW}" / "pools.svg").stat().st_size > 1000


def test_report_refuses_a_date_the_warehouse_was_not_built_for(dbt, capsys, monkeypatch):
    monkeypatch.setenv("GROUPREBATE_PSEUDONYM_KEY", "k3y")
    path = dbt.build(fx.LAST_DS)
    code = cli.main(["report", "--workdir", str(path.parent), "--ds", "2018-11-13"])
    assert code == 2
    assert f"is as of {fx.LAST_DS}, not 2018-11-13" in capsys.readouterr().err


def test_report_without_a_warehouse_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GROUPREBATE_PSEUDONYM_KEY", "k3y")
    assert cli.main(["report", "--workdir", str(tmp_path)]) == 2
    assert "no warehouse" in capsys.readouterr().err
