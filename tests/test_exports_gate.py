"""The exports gate: a staged payout file that finance may receive passes, and a crafted
bad one fails exactly the expectation it breaks, named in the gate's message and results."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import duckdb
import pytest

from expectations.exports import export_batches
from expectations.gate import QualityGateFailed, results_path, run_gate
from grouprebate.publish.files import csv_bytes, json_bytes
from grouprebate.publish.payouts import (
    PAYOUT_COLUMNS,
    control_file_name,
    payout_file_name,
    publish_payouts,
    stage_payouts,
)

DS = dt.date(2018, 11, 14)
EARLIER = DS - dt.timedelta(days=1)
UTC = dt.UTC


def pid(user: str) -> str:
    return hashlib.sha256(f"xhq-2018:g1:{user}".encode()).hexdigest()[:32]


def payout(user: str, amount: str = "750", claimed_at: str = "2018-11-13T09:00:00+08:00",
           due_by: str = "2018-11-14T09:00:00+08:00", **fields: str) -> dict:
    return {"payout_id": pid(user), "campaign_id": "xhq-2018", "group_id": "g1",
            "user_id": user, "amount_fen": amount, "claimed_at": claimed_at, "due_by": due_by,
            **fields}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One GX project for the module: its checkpoints are registered once."""
    return tmp_path_factory.mktemp("gx")


def write_file(folder, config, ds, rows, columns=PAYOUT_COLUMNS, **control) -> None:
    """A payout file and a control record that matches it unless told otherwise."""
    name = payout_file_name(config, ds)
    data = csv_bytes(columns, [[row[c] for c in columns] for row in rows])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    record = {"campaign_id": config.campaign_id, "export_ds": ds.isoformat(), "file": name,
              "row_count": len(rows), "total_fen": int(sum(Decimal(r["amount_fen"] or 0)
                                                           for r in rows)),
              "sha256": hashlib.sha256(data).hexdigest(), **control}
    (folder / control_file_name(name)).write_bytes(json_bytes(record))


def gate(spark, config, workdir, root):
    return run_gate(workdir, "exports", DS, export_batches(
        spark, str(root / "staging"), str(root / "exports"), config, DS))


def failures(workdir) -> set[tuple[str, str, str | None]]:
    path = results_path(workdir, "exports", DS)
    return set(duckdb.sql(f"select suite, expectation, column_name from '{path}' "
                          "where not success").fetchall())


def fake_marts(rows: list[tuple]):
    def query(sql, params=()):
        assert "marts.payouts" in sql
        return [row[1:] for row in rows if row[0] == params[0]]
    return query


def test_a_staged_file_from_the_marts_passes_and_publishes(spark, config, workdir, tmp_path):
    claimed = dt.datetime(2018, 11, 13, 1, 0, 0, 123456, tzinfo=UTC)
    marts = fake_marts([
        (EARLIER, pid("u0"), "g1", "u0", 10, claimed, claimed + dt.timedelta(hours=24)),
        (DS, pid("u1"), "g1", "u1", 750, claimed, claimed + dt.timedelta(hours=24)),
        (DS, pid("u2"), "g1", "u2", 250, claimed, claimed + dt.timedelta(hours=24)),
    ])
    staging, exports = tmp_path / "staging", tmp_path / "exports"
    stage_payouts(marts, config, EARLIER, staging, exports)
    publish_payouts(staging, config, EARLIER, exports)
    stage_payouts(marts, config, DS, staging, exports)
    summary = gate(spark, config, workdir, tmp_path)
    assert summary.failed == 0 and summary.expectations == 18
    assert failures(workdir) == set()
    publish_payouts(staging, config, DS, exports)
    # A re-run of a published date: its own published file is not another date's.
    stage_payouts(marts, config, DS, staging, exports)
    assert gate(spark, config, workdir, tmp_path).failed == 0


def test_a_date_without_payouts_passes_its_header_only_file(spark, config, workdir, tmp_path):
    control = stage_payouts(fake_marts([]), config, DS, tmp_path / "staging",
                            tmp_path / "exports")
    assert control["row_count"] == 0
    assert gate(spark, config, workdir, tmp_path).failed == 0


def test_nothing_staged_fails_the_gate(spark, config, workdir, tmp_path):
    with pytest.raises(QualityGateFailed, match="nothing staged at .*payouts_xhq-2018_2018-11-14"):
        gate(spark, config, workdir, tmp_path)


FILE = "exports.payout_file"
CONTROL = "exports.control_record"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
SWAPPED = ("payout_id", "campaign_id", "user_id", "group_id", "amount_fen", "claimed_at",
           "due_by")
GOOD = [payout("u1"), payout("u2", "250")]

# name: (staged rows, their columns, control record changes, what it breaks, message part)
CASES = {
    "columns out of order": (
        GOOD, SWAPPED, {}, {(FILE, "expect_table_columns_to_match_ordered_list", None)},
        "expect_table_columns_to_match_ordered_list failed"),
    "an amount of 0 fen or below": (
        [payout("u1", "0"), payout("u2", "-250")], PAYOUT_COLUMNS, {},
        {(FILE, REGEX, "amount_fen")}, '"amount_fen": "-250"'),
    "an amount that is not whole fen": (
        [payout("u1", "750.0"), payout("u2", "250")], PAYOUT_COLUMNS, {},
        {(FILE, REGEX, "amount_fen")}, '"amount_fen": "750.0"'),
    "timestamps without offset": (
        [payout("u1", claimed_at="2018-11-13T09:00:00"),
         payout("u2", due_by="2018-11-14 09:00:00+08:00")], PAYOUT_COLUMNS, {},
        {(FILE, REGEX, "claimed_at"), (FILE, REGEX, "due_by")},
        f'"claimed_at": "2018-11-13T09:00:00", "payout_id": "{pid("u1")}"'),
    "another campaign": (
        [payout("u1", campaign_id="xhq-2019"), payout("u2")], PAYOUT_COLUMNS, {},
        {(FILE, IN_SET, "campaign_id")}, "expect_column_values_to_be_in_set column campaign_id"),
    "a missing user id": (
        [payout("u1", user_id=""), payout("u2")], PAYOUT_COLUMNS, {},
        {(FILE, "expect_column_values_to_not_be_null", "user_id")}, "column user_id"),
    "a malformed payout id": (
        [payout("u1", payout_id="P-1"), payout("u2")], PAYOUT_COLUMNS, {},
        {(FILE, REGEX, "payout_id")}, '"payout_id": "P-1"'),
    "a control total that is not the file's": (
        GOOD, PAYOUT_COLUMNS, {"total_fen": 999}, {(CONTROL, IN_SET, "total_fen_equals")},
        '"control_total_fen": 999'),
    "a control row count that is not the file's": (
        GOOD, PAYOUT_COLUMNS, {"row_count": 3}, {(CONTROL, IN_SET, "row_count_equals")},
        '"control_row_count": 3'),
    "a control digest that is not the file's": (
        GOOD, PAYOUT_COLUMNS, {"sha256": "0" * 64}, {(CONTROL, IN_SET, "sha256_equals")},
        "column sha256_equals failed"),
    "the control record of another date": (
        GOOD, PAYOUT_COLUMNS, {"export_ds": EARLIER.isoformat()},
        {(CONTROL, IN_SET, "names_this_file")}, "column names_this_file failed"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_staged_file_fails_exactly_the_expectation_it_breaks(
        spark, config, workdir, tmp_path, case):
    rows, columns, control, broken, named = CASES[case]
    write_file(tmp_path / "staging" / "payouts", config, DS, rows, columns, **control)
    with pytest.raises(QualityGateFailed) as failed:
        gate(spark, config, workdir, tmp_path)
    assert failures(workdir) == broken
    message = str(failed.value)
    assert all(f"suite {suite}: {expectation}" in message for suite, expectation, _ in broken)
    assert named in message


def test_a_payout_already_published_on_an_earlier_date_fails(spark, config, workdir, tmp_path):
    write_file(tmp_path / "exports" / "payouts", config, EARLIER, [payout("u0"), payout("u2")])
    write_file(tmp_path / "staging" / "payouts", config, DS, GOOD)
    with pytest.raises(QualityGateFailed) as failed:
        gate(spark, config, workdir, tmp_path)
    assert failures(workdir) == {
        ("exports.payout_ids", "expect_column_values_to_be_unique", "payout_id")}
    message = str(failed.value)
    assert f'"file": "published {payout_file_name(config, EARLIER)}"' in message
    assert f'"file": "staged {payout_file_name(config, DS)}"' in message


def test_a_file_without_the_payout_columns_fails_on_its_columns(spark, config, workdir,
                                                                 tmp_path):
    columns = tuple(c for c in PAYOUT_COLUMNS if c != "amount_fen")
    write_file(tmp_path / "staging" / "payouts", config, DS, GOOD, columns)
    with pytest.raises(QualityGateFailed,
                       match="expect_table_columns_to_match_ordered_list failed"):
        gate(spark, config, workdir, tmp_path)
    assert (FILE, "expect_table_columns_to_match_ordered_list", None) in failures(workdir)
