"""The money invariants (dbt/tests/money) hold on the fixture, and each one fails when
the one thing it guards is broken in a copy of the built warehouse."""

from __future__ import annotations

import json

import pytest

from grouprebate.warehouse import dbt_runner as warehouse
from tests import dbt_fixtures as fx
from tests.dbt_fixtures import DbtHarness

CONSERVATION = "assert_paid_and_forfeited_within_red_packet"

# test -> (what is broken, SQL that breaks it, the money tests expected to fail)
BREAKS = {
    "assert_parts_sum_to_red_packet": (
        "a 0-fen part of g01 gains a fen, so g01's parts sum to 1001",
        "update intermediate.int_splits_allocated set split_fen = 1 "
        "where group_id = 'g01' and user_id = 'm01'",
        set()),
    "assert_no_part_above_red_packet": (
        "y3's part in g03 (red packet 701) becomes 702",
        "update marts.member_splits set split_fen = 702 "
        "where group_id = 'g03' and user_id = 'y3'",
        set()),
    "assert_red_packet_is_min_of_pool_and_cap": (
        "g02's red packet is one fen below the cap its pool exceeds",
        "update marts.winner_list set red_packet_fen = 4999999 where group_id = 'g02'",
        set()),
    "assert_at_most_k_winners": (
        "the eligible loser g05 is added as a fifth winner (K = 4)",
        "insert into marts.winner_list (campaign_id, group_id, pool_fen, red_packet_fen, "
        "member_count_at_draw_open, trigger_status, draw_rank, draw_digest) "
        "select campaign_id, group_id, pool_fen, pool_fen, member_count_at_draw_open, "
        "'awaiting trigger', draw_rank, draw_digest from marts.draw_audit "
        "where group_id = 'g05'",
        set()),
    "assert_no_group_user_paid_twice": (
        "y2's payout appears a second time under another id",
        "insert into marts.payouts select 'x' || substr(payout_id, 2), campaign_id, group_id, "
        "user_id, amount_fen, claimed_at, due_by, export_ds, 'c-copy', claim_arrival_ds "
        "from marts.payouts where user_id = 'y2'",
        {CONSERVATION}),  # paying twice also pays out more than the red packet
    "assert_every_payout_has_a_split": (
        "m10's part disappears from member_splits while the payout stays",
        "delete from marts.member_splits where group_id = 'g01' and user_id = 'm10'",
        set()),
    "assert_winners_are_eligible": (
        "the invalid group g07 takes the place of winner g04 (with its own pool)",
        "update marts.winner_list set group_id = 'g07', pool_fen = 900, red_packet_fen = 900 "
        "where group_id = 'g04'",
        set()),
    CONSERVATION: (
        "m10's paid part is also listed as forfeited",
        "insert into marts.forfeitures (campaign_id, group_id, user_id, amount_fen, reason, "
        "is_final) values ('xhq-2018', 'g01', 'm10', 334, 'unclaimed', false)",
        set()),
}


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> DbtHarness:
    return fx.shared_harness(tmp_path_factory, config)


def test_every_money_invariant_has_a_break():
    assert set(BREAKS) == set(fx.MONEY_TESTS)


def test_money_invariants_hold_on_the_fixture(dbt):
    assert dbt.failing_tests(dbt.build(fx.LAST_DS), "tag:money") == set()


@pytest.mark.parametrize("invariant", sorted(BREAKS))
def test_money_invariant_fails_on_a_broken_warehouse(dbt, invariant):
    what, statement, also_failing = BREAKS[invariant]
    broken = dbt.copy_of(fx.LAST_DS, invariant)
    fx.execute(broken, statement)
    assert dbt.failing_tests(broken, "tag:money") == {invariant, *also_failing}, what


def primary_key_failures(dbt: DbtHarness, broken, model: str) -> list[dict]:
    """The failure rows of a model's primary_key test on a warehouse (none when it passes)."""
    select = f"{model},test_name:primary_key"
    result = warehouse.run_dbt(
        ["test", "--select", select, "--store-failures", "--vars",
         json.dumps(warehouse.build_vars(dbt.config, fx.LAST_DS)), *dbt.dbt_args()],
        dbt.env(broken), check=False, manifest=dbt.manifest)
    [outcome] = result.result.results
    if str(outcome.status) == "pass":
        return []
    assert str(outcome.status) == "fail"
    return fx.query(broken, f"select * from {outcome.node.relation_name} order by all")


@pytest.mark.parametrize("column", ["due_by", "claim_event_id"])
def test_primary_key_fails_on_a_null_and_names_the_column(dbt, column):
    """One test node checks all of a model's required columns; a null in any one fails it."""
    broken = dbt.copy_of(fx.LAST_DS, f"null-{column}")
    assert primary_key_failures(dbt, broken, "payouts") == []
    fx.execute(broken, f"update marts.payouts set {column} = null where user_id = 'y2'")
    assert primary_key_failures(dbt, broken, "payouts") == [
        {"failed_check": "not null", "column_name": column, "failing_rows": 1}]


def test_primary_key_fails_on_a_duplicated_key_with_a_nullable_part(dbt):
    """The key's rows are unique with nulls compared equal (forfeitures' user_id is null
    for a whole unclaimed packet), in the same node as the required columns."""
    broken = dbt.copy_of(fx.LAST_DS, "duplicate-forfeiture")
    assert primary_key_failures(dbt, broken, "forfeitures") == []
    [row] = fx.query(broken, "select * from marts.forfeitures where user_id is null limit 1")
    fx.execute(broken, "insert into marts.forfeitures select * from marts.forfeitures "
                       f"where group_id = '{row['group_id']}' and user_id is null")
    fx.execute(broken, "update marts.forfeitures set reason = null where user_id is not null")
    failures = primary_key_failures(dbt, broken, "forfeitures")
    nulled = fx.query(broken, "select count(*) as n from marts.forfeitures where reason is null")
    assert failures == [
        {"failed_check": "not null", "column_name": "reason", "failing_rows": nulled[0]["n"]},
        {"failed_check": "unique", "column_name": "group_id, user_id", "failing_rows": 1}]
