"""The payout ledger and its checks on the fixture lake (tests/dbt_fixtures.py): entries by
hand, append-only across run dates, batches and reconciliation per export date, red
packets that close to the fen, SLA breaches; each ledger check fails on a warehouse copy
with exactly one thing broken."""

from __future__ import annotations

import datetime as dt

import pytest

from tests import dbt_fixtures as fx
from tests.dbt_fixtures import DbtHarness, query

LAST = fx.LAST_DS
# Dates other dbt test modules build too (the harness builds each date once a session).
DATES = (fx.FREEZE_DS, fx.d("11-13"), fx.d("11-17"), LAST)
LEDGER = ("select entry_ds, entry_type, group_id, user_id, amount_fen, occurred_at, payout_id, "
          "batch_id, file_name from marts.payout_ledger")
ORDER = " order by entry_ds, entry_type, group_id, user_id"


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> DbtHarness:
    return fx.shared_harness(tmp_path_factory, config)


def rows(dbt: DbtHarness, ds: dt.date, sql: str) -> list[dict]:
    return query(dbt.build(ds), sql)


def test_ledger_entries_by_hand(dbt):
    entries = {(r["entry_ds"], r["entry_type"], r["group_id"], r["user_id"]): r["amount_fen"]
               for r in rows(dbt, LAST, LEDGER)}
    funded = {(fx.FREEZE_DS, "red_packet_funded", g, None): w[1]
              for g, w in fx.EXPECTED_WINNERS.items()}
    observed = {"g01": fx.d("11-12"), "g02": fx.d("11-14"), "g03": fx.d("11-12")}
    allocated = {(observed[g], "split_allocated", g, u): split
                 for (g, u), (_, split) in fx.EXPECTED_SPLITS.items()}
    exported = {(export_ds, "payout_exported", g, u): amount
                for (g, u), (amount, _, export_ds, _) in fx.EXPECTED_PAYOUTS.items()}
    forfeited = {
        # m9's window closed on 11-17 17:00; the claim made at 16:30 arrived on 11-18.
        (fx.d("11-17"), "part_forfeited", "g01", "m9"): 333,
        (LAST, "forfeiture_reversed", "g01", "m9"): 333,
        (fx.d("11-17"), "part_forfeited", "g03", "y3"): 175,
        (fx.d("11-17"), "part_forfeited", "g03", "y4"): 175,
        (LAST, "part_forfeited", "g02", "x2"): 1_666_667,  # triggered 11-13 09:00
        (fx.d("11-17"), "packet_forfeited", "g04", None): 500,  # deadline 11-17 16:00
    }
    assert entries == {**funded, **allocated, **exported, **forfeited}


def test_ledger_is_append_only_across_run_dates(dbt):
    """Whatever a run date's ledger holds, every later run holds unchanged."""
    final = rows(dbt, LAST, LEDGER + ORDER)
    for ds in DATES[:-1]:
        assert rows(dbt, ds, LEDGER + ORDER) == [r for r in final if r["entry_ds"] <= ds], ds


def test_every_payout_is_in_one_batch_of_its_export_date(dbt):
    exported = rows(dbt, LAST, "select p.payout_id, p.export_ds, l.entry_ds, l.batch_id, "
                               "l.file_name from marts.payouts p join marts.payout_ledger l "
                               "on l.payout_id = p.payout_id order by p.payout_id")
    assert len(exported) == len(fx.EXPECTED_PAYOUTS)
    for row in exported:
        assert row["entry_ds"] == row["export_ds"]
        assert row["batch_id"] == f"xhq-2018_{row['export_ds']}_001"
        assert row["file_name"] == f"payouts_{row['batch_id']}.csv"


def test_every_export_date_has_its_batches_and_reconciles(dbt):
    batches = rows(dbt, LAST, "select export_ds, batch_number, batch_count, row_count, "
                              "total_fen from marts.payout_batches order by export_ds")
    days = [fx.FREEZE_DS + dt.timedelta(days=n) for n in range((LAST - fx.FREEZE_DS).days + 1)]
    paid: dict[dt.date, list[int]] = {}
    for amount, _, export_ds, _ in fx.EXPECTED_PAYOUTS.values():
        paid.setdefault(export_ds, []).append(amount)
    assert batches == [{"export_ds": d, "batch_number": 1, "batch_count": 1,
                        "row_count": len(paid.get(d, [])), "total_fen": sum(paid.get(d, []))}
                       for d in days]
    reconciliation = rows(dbt, LAST, "select export_ds, file_fen, payout_fen, "
                                     "claimed_split_fen, is_balanced "
                                     "from marts.payout_reconciliation order by export_ds")
    assert reconciliation == [{"export_ds": d, "file_fen": sum(paid.get(d, [])),
                               "payout_fen": sum(paid.get(d, [])),
                               "claimed_split_fen": sum(paid.get(d, [])), "is_balanced": True}
                              for d in days]
    assert rows(dbt, fx.d("11-11"), "select * from marts.payout_batches") == []


def test_red_packets_close_to_the_fen(dbt):
    on_13 = {r["group_id"]: r for r in rows(dbt, fx.d("11-13"),
                                            "select * from marts.red_packet_balances")}
    # g02's trigger is observed on 11-14: nothing allocated, the whole packet still open.
    assert (on_13["g02"]["allocated_fen"], on_13["g02"]["open_fen"]) == (0, 5_000_000)
    assert on_13["g01"]["open_fen"] == 1000 - 334
    balances = rows(dbt, LAST, "select group_id, red_packet_fen, paid_fen, forfeited_fen, "
                               "open_fen, is_closed from marts.red_packet_balances "
                               "order by group_id")
    paid = {g: sum(a for (pg, _), (a, *_) in fx.EXPECTED_PAYOUTS.items() if pg == g)
            for g in fx.EXPECTED_WINNERS}
    forfeited = {g: sum(a for (fg, _), (a, _) in fx.EXPECTED_FORFEITURES.items() if fg == g)
                 for g in fx.EXPECTED_WINNERS}
    assert balances == [{"group_id": g, "red_packet_fen": w[1], "paid_fen": paid[g],
                         "forfeited_fen": forfeited[g], "open_fen": 0, "is_closed": True}
                        for g, w in sorted(fx.EXPECTED_WINNERS.items())]
    assert all(w[1] == paid[g] + forfeited[g] for g, w in fx.EXPECTED_WINNERS.items())


def test_payouts_due_before_their_file_are_sla_breaches(dbt):
    breaches = rows(dbt, LAST, "select user_id, export_ds, file_scheduled_at, cause "
                               "from marts.payout_sla_breaches order by user_id")
    assert breaches == [
        # claimed 11-17 16:30, arrived 11-18: due 11-18 16:30, file at 11-19 02:00.
        {"user_id": "m9", "export_ds": LAST, "file_scheduled_at": fx.t("11-19 02:00"),
         "cause": "claim arrived after the day it was made"},
        # claimed 11-13 12:00 before g02's trigger was observed (11-14): due 11-14 12:00,
        # its file (11-14) at 11-15 02:00.
        {"user_id": "x1", "export_ds": fx.d("11-14"), "file_scheduled_at": fx.t("11-15 02:00"),
         "cause": "trigger observed after the claim arrived"},
    ]


LEDGER_TESTS = ("assert_payout_files_reconcile", "assert_payout_batches_are_filled_in_order",
                "assert_red_packets_close")
# test -> (what is broken, SQL that breaks it)
BREAKS = {
    "assert_payout_files_reconcile": (
        "the payouts of 11-14 have no batch files",
        "delete from marts.payout_reconciliation where export_ds = date '2018-11-14'"),
    "assert_payout_batches_are_filled_in_order": (
        "11-14's only batch says it is one of two, yet is not full",
        "update marts.payout_batches set batch_count = 2 where export_ds = date '2018-11-14'"),
    "assert_red_packets_close": (
        "y3's forfeiture in the forfeitures mart is a fen less than the ledger's",
        "update marts.forfeitures set amount_fen = 174 "
        "where group_id = 'g03' and user_id = 'y3'"),
}


def test_the_ledger_checks_hold_on_the_fixture(dbt):
    assert set(BREAKS) == set(LEDGER_TESTS)
    assert dbt.failing_tests(dbt.build(LAST), "tag:ledger") == set()


@pytest.mark.parametrize("check", LEDGER_TESTS)
def test_a_ledger_check_fails_on_a_broken_warehouse(dbt, check):
    what, statement = BREAKS[check]
    broken = dbt.copy_of(LAST, check)
    fx.execute(broken, statement)
    assert dbt.failing_tests(broken, "tag:ledger") == {check}, what
