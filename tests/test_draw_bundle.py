"""The verifier against the dbt draw, and the readable winner list from the real marts, on
the hand-built fixture lake (tests/dbt_fixtures.py): the bundle written from
marts.draw_audit verifies, its winners are the fixture's hand-computed ones, and the CSV
masks the fixture's hostile group names."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from grouprebate.publish.draw_bundle import publish_draw_bundle
from grouprebate.publish.winner_list import display_name, pseudonym, publish_readable_winner_list
from grouprebate.verify_draw import verify_bundle
from grouprebate.warehouse.marts import duckdb_query
from tests import dbt_fixtures as fx

KEY = "fixture-key"
PUBLISH_DS = fx.d("11-13")


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> fx.DbtHarness:
    return fx.shared_harness(tmp_path_factory, config)


def test_the_verifier_agrees_with_the_dbt_draw(dbt, tmp_path):
    query = duckdb_query(dbt.build(fx.FREEZE_DS))
    bundle = publish_draw_bundle(query, dbt.config, KEY, tmp_path)
    verdict = verify_bundle(bundle)
    assert verdict.matches, verdict.message
    assert verdict.message.startswith("match: 4 winners among 6 eligible groups")
    winners = list(csv.DictReader((bundle / "public" / "winners.csv").open()))
    assert {w["group_pseudonym"] for w in winners} == {
        pseudonym(KEY, g) for g in fx.EXPECTED_WINNERS}
    # and the dbt ranks are the documented rule's, computed here from the ids
    internal = list(csv.DictReader((bundle / "internal" / "groups.csv").open()))
    eligible = [row["group_id"] for row in sorted(internal, key=lambda r: int(r["draw_rank"]))]
    assert eligible == fx.python_draw(fx.SEED, eligible, len(eligible))


def test_dim_groups_carries_every_groups_name(dbt):
    rows = fx.query(dbt.build(PUBLISH_DS), "select group_id, group_name from marts.dim_groups")
    assert {r["group_id"]: r["group_name"] for r in rows} == {
        g.group_id: fx.GROUP_NAMES.get(g.group_id, f"Group {g.group_id}") for g in fx.GROUPS}


def test_the_readable_list_masks_names_and_shows_packets_of_large_groups_only(dbt, tmp_path):
    config = replace(dbt.config, red_packet_min_members=5)
    query = duckdb_query(dbt.build(PUBLISH_DS))
    csv_path, html_path = publish_readable_winner_list(query, config, KEY, tmp_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    expected = sorted(
        (pseudonym(KEY, g), display_name(fx.GROUP_NAMES[g]), str(members),
         str(packet) if members >= 5 else "")
        for g, (_, packet, members, _) in fx.EXPECTED_WINNERS.items())
    assert [tuple(r.values()) for r in rows] == expected
    assert {display_name(n) for n in fx.GROUP_NAMES.values()} == {"<***>", "剁***团", "***",
                                                                 "T***4"}
    page = html_path.read_text()
    assert "&lt;***&gt;" in page and "<b>" not in page
