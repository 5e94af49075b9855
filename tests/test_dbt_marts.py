"""The dbt marts on the hand-built fixture lake (tests/dbt_fixtures.py), on DuckDB.

Each run date gets its own warehouse, built by one in-process `dbt build` (models, unit
tests and data tests), so the results of different run dates can be compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from tests import dbt_fixtures as fx
from tests import reference_rules
from tests.dbt_fixtures import DbtHarness, query

PRE_FREEZE, DAY_AFTER_DRAW, WINDOWS_CLOSING = fx.d("11-11"), fx.d("11-13"), fx.d("11-17")
LAST = fx.LAST_DS
CONTRACT = {  # docs/rules.md §5: mart -> required columns
    "fct_attributed_orders": ["order_id", "group_id", "share_id", "buyer_user_id",
                              "sharer_user_id", "first_paid_at", "contribution_fen"],
    "group_pools": ["group_id", "pool_fen", "member_count_at_draw_open", "is_valid",
                    "is_eligible"],
    "winner_list": ["group_id", "pool_fen", "red_packet_fen", "member_count_at_draw_open",
                    "triggered_at"],
    "member_splits": ["group_id", "user_id", "contribution_fen", "split_fen"],
    "payouts": ["payout_id", "group_id", "user_id", "amount_fen", "claimed_at", "due_by",
                "export_ds"],
    "group_exclusions": ["group_id", "reason"],
    "forfeitures": ["group_id", "user_id", "amount_fen", "reason"],
}


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> DbtHarness:
    return fx.shared_harness(tmp_path_factory, config)


def rows(harness: DbtHarness, ds: dt.date, sql: str) -> list[dict]:
    return query(harness.build(ds), sql)


def by_key(records: list[dict], *key: str) -> dict:
    return {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: r for r in records}


def test_marts_live_in_schema_marts_with_the_contract_columns(dbt):
    columns = rows(dbt, LAST, "select table_schema, table_name, column_name "
                              "from information_schema.columns")
    marts = {}
    for c in columns:
        if c["table_schema"] == "marts":
            marts.setdefault(c["table_name"], set()).add(c["column_name"])
    for mart, required in CONTRACT.items():
        assert mart in marts, f"marts.{mart} missing"
        assert set(required) <= marts[mart], (mart, set(required) - marts[mart])
    assert {"group_standings_daily", "campaign_summary", "sharer_leaderboard",
            "quarantine_report", "draw_audit"} <= set(marts)


def test_money_columns_are_integers(dbt):
    columns = rows(dbt, LAST, "select table_schema, table_name, column_name, data_type "
                              "from information_schema.columns "
                              "where table_schema in ('intermediate', 'marts') "
                              "and column_name like '%_fen'")
    assert columns
    for c in columns:
        assert c["data_type"] == "BIGINT", c


def test_draw_is_the_k_smallest_sha256_digests_as_python_computes(dbt):
    audit = rows(dbt, LAST, "select group_id, draw_digest, draw_rank, is_winner, "
                            "draw_seed_sha256 from marts.draw_audit")
    eligible = sorted(r["group_id"] for r in audit)
    assert eligible == ["g01", "g02", "g03", "g04", "g05", "g06"]
    for r in audit:
        assert r["draw_digest"] == hashlib.sha256(f"{fx.SEED}:{r['group_id']}".encode()).hexdigest()
        assert r["draw_seed_sha256"] == hashlib.sha256(fx.SEED.encode()).hexdigest()
    expected = fx.python_draw(fx.SEED, eligible, fx.WINNER_COUNT)
    winners = [r["group_id"] for r in sorted(audit, key=lambda r: r["draw_rank"])
               if r["is_winner"]]
    assert winners == expected
    listed = rows(dbt, LAST, "select group_id from marts.winner_list")
    assert {r["group_id"] for r in listed} == set(expected) == set(fx.EXPECTED_WINNERS)


def test_winner_list_has_pools_red_packets_and_triggers(dbt):
    winners = by_key(rows(dbt, LAST, "select * from marts.winner_list"), "group_id")
    for group, (pool, red, members, triggered_at) in fx.EXPECTED_WINNERS.items():
        row = winners[group]
        assert (row["pool_fen"], row["red_packet_fen"], row["member_count_at_draw_open"],
                row["triggered_at"]) == (pool, red, members, triggered_at), group
    assert winners["g04"]["trigger_status"] == "not triggered within the claim window"


def test_split_is_largest_remainder_by_hand_and_by_python(dbt):
    splits = by_key(rows(dbt, LAST, "select * from marts.member_splits"), "group_id", "user_id")
    assert {k: (r["contribution_fen"], r["split_fen"]) for k, r in splits.items()} == \
        fx.EXPECTED_SPLITS
    every_part = rows(dbt, LAST, "select group_id, user_id, red_packet_fen, contribution_fen, "
                                 "split_fen from intermediate.int_splits_allocated")
    for group in {r["group_id"] for r in every_part}:
        members = [r for r in every_part if r["group_id"] == group]
        reference = reference_rules.split(members[0]["red_packet_fen"],
                                          {r["user_id"]: r["contribution_fen"] for r in members})
        assert {r["user_id"]: r["split_fen"] for r in members} == reference
        assert sum(reference.values()) == members[0]["red_packet_fen"]


def test_remainder_tie_goes_to_the_bytewise_smallest_user_id(dbt):
    g01 = by_key(rows(dbt, LAST, "select user_id, split_fen from marts.member_splits "
                                 "where group_id = 'g01'"), "user_id")
    assert sorted(["m9", "m10", "m11"])[0] == "m10"
    assert {u: r["split_fen"] for u, r in g01.items()} == {"m10": 334, "m11": 333, "m9": 333}


def test_payouts_by_hand_with_stable_ids_and_due_dates(dbt, config):
    payouts = by_key(rows(dbt, LAST, "select * from marts.payouts"), "group_id", "user_id")
    assert set(payouts) == set(fx.EXPECTED_PAYOUTS)
    for (group, user), (amount, claimed_at, export_ds, event) in fx.EXPECTED_PAYOUTS.items():
        row = payouts[(group, user)]
        assert (row["amount_fen"], row["claimed_at"], row["export_ds"],
                row["claim_event_id"]) == (amount, claimed_at, export_ds, event)
        assert row["due_by"] == claimed_at + dt.timedelta(hours=config.payout_sla_hours)
        key = f"{config.campaign_id}:{group}:{user}".encode()
        assert row["payout_id"] == hashlib.sha256(key).hexdigest()[:32]
        assert row["campaign_id"] == config.campaign_id


def test_rejected_claims_carry_their_reason(dbt):
    rejected = rows(dbt, LAST, "select claim_event_id, rejection_reason "
                               "from marts.fct_rejected_claims")
    assert {r["claim_event_id"]: r["rejection_reason"] for r in rejected} == \
        fx.EXPECTED_REJECTIONS
    claims = rows(dbt, LAST, "select count(*) as n from staging.stg_lake__claims")[0]["n"]
    payouts = rows(dbt, LAST, "select count(*) as n from marts.payouts")[0]["n"]
    assert payouts + len(rejected) == claims == len(fx.CLAIMS)


def test_forfeitures_unclaimed_parts_and_untriggered_packets(dbt):
    forfeited = rows(dbt, LAST, "select * from marts.forfeitures")
    assert {(r["group_id"], r["user_id"]): (r["amount_fen"], r["reason"])
            for r in forfeited} == fx.EXPECTED_FORFEITURES
    assert not any(r["is_final"] for r in forfeited)  # calendar_end is 11-23


def test_late_draws_event_never_moves_a_published_trigger(dbt):
    """g01's event at 16:10 arrives on 11-13, after the 17:00 trigger was observed."""
    for ds in (DAY_AFTER_DRAW, LAST):
        g01 = rows(dbt, ds, "select triggered_at, trigger_observed_ds from marts.winner_list "
                            "where group_id = 'g01'")[0]
        assert g01 == {"triggered_at": fx.t("11-12 17:00"), "trigger_observed_ds": fx.FREEZE_DS}
    early = rows(dbt, DAY_AFTER_DRAW, "select group_id, user_id, split_fen "
                                      "from marts.member_splits where group_id = 'g01'")
    late = rows(dbt, LAST, "select group_id, user_id, split_fen "
                           "from marts.member_splits where group_id = 'g01'")
    assert sorted(early, key=str) == sorted(late, key=str)


def test_trigger_counts_once_the_members_join_has_arrived(dbt):
    """x3 joined g02 on 11-10, but the join only arrives on 11-14 with x0's own event."""
    before = rows(dbt, DAY_AFTER_DRAW, "select triggered_at, trigger_status "
                                       "from marts.winner_list where group_id = 'g02'")[0]
    assert before == {"triggered_at": None, "trigger_status": "awaiting trigger"}
    after = rows(dbt, LAST, "select triggered_at, trigger_observed_ds from marts.winner_list "
                            "where group_id = 'g02'")[0]
    assert after == {"triggered_at": fx.t("11-13 09:00"), "trigger_observed_ds": fx.d("11-14")}


def test_claim_before_the_trigger_was_observed_is_exported_when_it_becomes_valid(dbt):
    rejected = rows(dbt, DAY_AFTER_DRAW, "select rejection_reason from marts.fct_rejected_claims "
                                         "where claim_event_id = 'c-g02-1'")
    assert rejected == [{"rejection_reason": "group not triggered"}]
    paid = rows(dbt, LAST, "select export_ds, claim_arrival_ds from marts.payouts "
                           "where claim_event_id = 'c-g02-1'")
    assert paid == [{"export_ds": fx.d("11-14"), "claim_arrival_ds": fx.d("11-13")}]


def test_payouts_keep_their_export_date_and_amount_on_later_runs(dbt):
    columns = "payout_id, group_id, user_id, amount_fen, claimed_at, due_by, export_ds"
    for earlier in (DAY_AFTER_DRAW, WINDOWS_CLOSING):
        then = rows(dbt, earlier, f"select {columns} from marts.payouts order by payout_id")
        now = rows(dbt, LAST, f"select {columns} from marts.payouts "
                              f"where export_ds <= date '{earlier}' order by payout_id")
        assert then == now, earlier
        assert all(r["export_ds"] <= earlier for r in then)


def test_late_duplicate_claim_does_not_move_an_exported_payout(dbt):
    """m11 claimed on 11-14 (exported 11-14); an earlier claim of m11 arrives on 11-15."""
    payout = rows(dbt, LAST, "select claim_event_id, export_ds from marts.payouts "
                             "where user_id = 'm11'")
    assert payout == [{"claim_event_id": "c-g01-2", "export_ds": fx.d("11-14")}]


def test_claim_made_in_time_but_arriving_late_undoes_a_forfeiture(dbt):
    """m9 claimed at 11-17 16:30 (window closes 17:00); the claim arrives on 11-18."""
    on_17 = rows(dbt, WINDOWS_CLOSING, "select amount_fen, reason from marts.forfeitures "
                                       "where user_id = 'm9'")
    assert on_17 == [{"amount_fen": 333, "reason": "unclaimed"}]
    assert rows(dbt, LAST, "select * from marts.forfeitures where user_id = 'm9'") == []
    assert rows(dbt, LAST, "select export_ds from marts.payouts where user_id = 'm9'") == \
        [{"export_ds": LAST}]


def test_frozen_results_never_change_on_later_runs(dbt):
    for sql in ("select * from marts.group_pools order by group_id",
                "select * from marts.fct_attributed_orders order by order_id",
                "select * from marts.draw_audit order by group_id",
                "select group_id, pool_fen, red_packet_fen, member_count_at_draw_open, draw_rank "
                "from marts.winner_list order by group_id",
                "select * from marts.group_exclusions order by group_id"):
        assert rows(dbt, DAY_AFTER_DRAW, sql) == rows(dbt, LAST, sql), sql


def test_before_the_freeze_standings_are_provisional_and_nothing_is_drawn(dbt):
    assert rows(dbt, PRE_FREEZE, "select * from marts.winner_list") == []
    assert rows(dbt, PRE_FREEZE, "select * from marts.draw_audit") == []
    assert rows(dbt, PRE_FREEZE, "select * from marts.payouts") == []
    pools = by_key(rows(dbt, PRE_FREEZE, "select * from marts.group_pools"), "group_id")
    assert pools["g01"]["pool_fen"] == 900  # m11's second purchase arrives on 11-12
    assert not any(r["is_frozen"] for r in pools.values())


def test_group_standings_by_day_up_to_the_freeze(dbt):
    standings = rows(dbt, LAST, "select standing_ds, pool_fen, pool_change_fen, is_frozen "
                                "from marts.group_standings_daily where group_id = 'g01' "
                                "order by standing_ds")
    assert standings == [
        {"standing_ds": PRE_FREEZE, "pool_fen": 900, "pool_change_fen": 900, "is_frozen": False},
        {"standing_ds": fx.FREEZE_DS, "pool_fen": 1000, "pool_change_fen": 100,
         "is_frozen": True},
    ]
    top = rows(dbt, LAST, "select group_id from marts.group_standings_daily "
                          f"where standing_ds = date '{fx.FREEZE_DS}' and pool_rank = 1")
    assert top == [{"group_id": "g02"}]


def test_campaign_summary_reconciles_with_the_marts(dbt):
    summary = rows(dbt, LAST, "select * from marts.campaign_summary")[0]
    paid = sum(a for a, *_ in fx.EXPECTED_PAYOUTS.values())
    forfeited = sum(a for a, _ in fx.EXPECTED_FORFEITURES.values())
    assert summary["groups"] == 9 and summary["eligible_groups"] == 6
    assert summary["winners"] == 4 and summary["triggered_winners"] == 3
    assert summary["shares"] == len(fx.PURCHASES) + fx.UNCONVERTED_SHARES
    assert summary["converted_shares"] == len(fx.PURCHASES)
    assert summary["payouts"] == len(fx.EXPECTED_PAYOUTS) and summary["paid_fen"] == paid
    assert summary["forfeited_fen"] == forfeited
    assert summary["split_fen"] == 1000 + 5_000_000 + 701
    assert summary["red_packets_fen"] == summary["split_fen"] + 500
    assert summary["quarantined_rows"] == len(fx.QUARANTINE)


def test_sharer_leaderboard_shows_no_buyer(dbt):
    board = rows(dbt, LAST, "select * from marts.sharer_leaderboard order by sharer_rank")
    assert not any("buyer" in column for column in board[0])
    assert (board[0]["sharer_user_id"], board[0]["attributed_sales_fen"]) == ("x0", 6_000_000)
    w0 = next(r for r in board if r["sharer_user_id"] == "w0")
    assert (w0["paid_fen"], w0["attributed_sales_fen"]) == (2000, 1500)  # 500 refunded


def test_quarantine_report_counts_reasons_per_day_and_source(dbt):
    report = rows(dbt, LAST, "select * from marts.quarantine_report "
                             "order by landing_source, reason")
    claims = report[0]
    assert (claims["landing_source"], claims["reason"], claims["quarantined_rows"],
            claims["example_line"], claims["source_rows_read"]) == \
        ("claims", "missing field user_id", 2, 3, 300)
    assert [(r["landing_source"], r["reason"]) for r in report[1:]] == [
        ("draws", "empty line"), ("draws", "unparseable line: not a JSON object")]


def test_orphans_and_late_arrivals_are_reported(dbt):
    report = rows(dbt, LAST, "select exception_kind, landing_source, row_count "
                             "from marts.arrival_exceptions_report order by all")
    assert report == [
        {"exception_kind": "late arrival", "landing_source": "memberships", "row_count": 1},
        {"exception_kind": "orphan", "landing_source": "claims", "row_count": 1},
        {"exception_kind": "orphan", "landing_source": "draws", "row_count": 1},
    ]


def test_a_run_date_sees_only_partitions_up_to_it(dbt):
    claims = rows(dbt, DAY_AFTER_DRAW, "select max(arrival_ds) as last from "
                                       "staging.stg_lake__claims")[0]["last"]
    assert claims == DAY_AFTER_DRAW
