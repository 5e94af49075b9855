"""The exports gate: staged payout batches that finance may receive pass, and a crafted bad
one fails exactly the expectation it breaks, named in the gate's message and results."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import duckdb
import pytest

from expectations.exports import MARTS_BATCHES_SQL, RECONCILIATION_SQL, export_batches
from expectations.gate import QualityGateFailed, results_path, run_gate
from grouprebate.publish.files import csv_bytes, json_bytes
from grouprebate.publish.payouts import (
    BATCH_LINES_SQL,
    PAYOUT_COLUMNS,
    control_file_name,
    package_file_name,
    publish_payouts,
    stage_payouts,
)
from tests.payout_marts import fake_marts as fake_lines
from tests.payout_marts import pid as payout_id

DS = dt.date(2018, 11, 14)
EARLIER = DS - dt.timedelta(days=1)
UTC = dt.UTC


def pid(user: str) -> str:
    return payout_id("g1", user)


def payout(user: str, amount: str = "750", claimed_at: str = "2018-11-13T09:00:00+08:00",
           due_by: str = "2018-11-14T09:00:00+08:00", **fields: str) -> dict:
    return {"payout_id": pid(user), "campaign_id": "xhq-2018", "group_id": "g1",
            "user_id": user, "amount_fen": amount, "claimed_at": claimed_at, "due_by": due_by,
            **fields}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One GX project for the module: its checkpoints are registered once."""
    return tmp_path_factory.mktemp("gx")


def batch_name(ds: dt.date, number: int) -> str:
    return f"payouts_xhq-2018_{ds}_{number:03d}.csv"


def write_batch(folder, ds, rows, columns=PAYOUT_COLUMNS, number=1, count=1,
                **control) -> tuple:
    """A batch file and a control record that matches it unless told otherwise; returns
    the marts' row for it (file, batch id, number, count, rows, fen) and its package entry."""
    name = batch_name(ds, number)
    data = csv_bytes(columns, [[row[c] for c in columns] for row in rows])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    total = int(sum(Decimal(r["amount_fen"] or 0) for r in rows))
    batch_id = name.removeprefix("payouts_").removesuffix(".csv")
    record = {"campaign_id": "xhq-2018", "export_ds": ds.isoformat(), "batch_id": batch_id,
              "batch_number": number, "batch_count": count, "file": name,
              "row_count": len(rows), "total_fen": total,
              "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), **control}
    (folder / control_file_name(name)).write_bytes(json_bytes(record))
    entry = {"path": name, "hash": f"sha256:{hashlib.sha256(data).hexdigest()}",
             "bytes": len(data)}
    return (name, batch_id, number, count, len(rows), total), entry


def stage(folder, config, ds, *batches) -> dict:
    """Write the batches - each rows, or (rows, columns, number, count, control changes)
    - and the date's data package; the marts' answer for them."""
    written = []
    for batch in batches:
        spec = batch if isinstance(batch, tuple) else (batch,)
        rows, columns, number, count, control = spec + (None, PAYOUT_COLUMNS, 1, 1, {})[len(spec):]
        written.append(write_batch(folder, ds, rows, columns, number, count, **control))
    (folder / package_file_name(config, ds)).write_bytes(json_bytes(
        {"name": "p", "resources": [entry for _, entry in written]}))
    return {"batches": [row for row, _ in written], "balanced": True}


def marts_query(answer: dict):
    def query(sql, params=()):
        if sql == MARTS_BATCHES_SQL:
            return list(answer["batches"])
        if sql == RECONCILIATION_SQL:
            return [(answer["balanced"],)]
        raise AssertionError(sql)
    return query


def from_lines(lines_query):
    """The gate's marts answer for what a lines fake would export (tests/payout_marts.py)."""
    def query(sql, params=()):
        if sql == BATCH_LINES_SQL:
            return lines_query(sql, params)
        heads = {row[:6] for row in lines_query(BATCH_LINES_SQL, params)}
        return marts_query({"batches": sorted((h[3], *h[:3], *h[4:]) for h in heads),
                            "balanced": True})(sql, params)
    return query


def gate(config, workdir, root, query):
    return run_gate(workdir, "exports", DS, export_batches(
        str(root / "staging"), str(root / "exports"), config, DS, query))


def failures(workdir) -> set[tuple[str, str, str | None]]:
    path = results_path(workdir, "exports", DS)
    return set(duckdb.sql(f"select suite, expectation, column_name from '{path}' "
                          "where not success").fetchall())


def test_staged_batches_from_the_marts_pass_and_publish(config, workdir, tmp_path):
    claimed = dt.datetime(2018, 11, 13, 1, 0, 0, 123456, tzinfo=UTC)
    due = claimed + dt.timedelta(hours=24)
    marts = from_lines(fake_lines([
        (EARLIER, pid("u0"), "g1", "u0", 10, claimed, due),
        (DS, pid("u1"), "g1", "u1", 750, claimed, due),
        (DS, pid("u2"), "g1", "u2", 250, claimed, due),
        (DS, pid("u3"), "g1", "u3,\n\"x\"", 1, claimed, due),
    ], max_rows=2))
    staging, exports = tmp_path / "staging", tmp_path / "exports"
    stage_payouts(marts, config, EARLIER, staging, exports)
    publish_payouts(staging, config, EARLIER, exports)
    stage_payouts(marts, config, DS, staging, exports)
    summary = gate(config, workdir, tmp_path, marts)
    assert summary.failed == 0 and summary.expectations == 22
    assert failures(workdir) == set()
    publish_payouts(staging, config, DS, exports)
    # A re-run of a published date: its own published files are not another date's.
    stage_payouts(marts, config, DS, staging, exports)
    assert gate(config, workdir, tmp_path, marts).failed == 0


def test_a_date_without_payouts_passes_its_empty_batch(config, workdir, tmp_path):
    marts = from_lines(fake_lines([]))
    result = stage_payouts(marts, config, DS, tmp_path / "staging", tmp_path / "exports")
    assert [c["row_count"] for c in result["batches"]] == [0]
    assert gate(config, workdir, tmp_path, marts).failed == 0


def test_nothing_staged_fails_the_gate(config, workdir, tmp_path):
    with pytest.raises(QualityGateFailed,
                       match="nothing staged at .*payouts_xhq-2018_2018-11-14.datapackage"):
        gate(config, workdir, tmp_path, marts_query({"batches": [], "balanced": True}))


FILE = "exports.payout_file"
CONTROL = "exports.control_record"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
SWAPPED = ("payout_id", "campaign_id", "user_id", "group_id", "amount_fen", "claimed_at",
           "due_by")
GOOD = [payout("u1"), payout("u2", "250")]


def other_marts_batch(answer: dict) -> dict:
    """The marts name a second batch that was not staged."""
    row = answer["batches"][0]
    second = (batch_name(DS, 2), f"xhq-2018_{DS}_002", 2, 2, 1, 5)
    return {**answer, "batches": [(*row[:3], 2, *row[4:]), second]}


# name: (staged batches, change to the marts' answer, what it breaks, message part)
CASES = {
    "columns out of order": (
        [(GOOD, SWAPPED)], None,
        {(CONTROL, IN_SET, "header_is_the_contracts")}, "column header_is_the_contracts"),
    "columns out of order in the second batch only": (
        [(GOOD[:1], PAYOUT_COLUMNS, 1, 2), ([payout("u3")], SWAPPED, 2, 2)], None,
        {(CONTROL, IN_SET, "header_is_the_contracts")}, "column header_is_the_contracts"),
    "an amount of 0 fen or below": (
        [[payout("u1", "0"), payout("u2", "-250")]], None,
        {(FILE, REGEX, "amount_fen")}, '"amount_fen": "-250"'),
    "an amount that is not whole fen": (
        [[payout("u1", "750.0"), payout("u2", "250")]], None,
        {(FILE, REGEX, "amount_fen")}, '"amount_fen": "750.0"'),
    "an amount with a line break after it": (
        [[payout("u1", "750\n"), payout("u2", "250")]], None,
        {(FILE, REGEX, "amount_fen")}, '"amount_fen": "750\\n"'),
    "timestamps without offset": (
        [[payout("u1", claimed_at="2018-11-13T09:00:00"),
          payout("u2", due_by="2018-11-14 09:00:00+08:00")]], None,
        {(FILE, REGEX, "claimed_at"), (FILE, REGEX, "due_by")},
        f'"claimed_at": "2018-11-13T09:00:00", "payout_id": "{pid("u1")}"'),
    "another campaign": (
        [[payout("u1", campaign_id="xhq-2019"), payout("u2")]], None,
        {(FILE, IN_SET, "campaign_id")}, "expect_column_values_to_be_in_set column campaign_id"),
    "a missing user id": (
        [[payout("u1", user_id=""), payout("u2")]], None,
        {(FILE, "expect_column_values_to_not_be_null", "user_id")}, "column user_id"),
    "a malformed payout id": (
        [[payout("u1", payout_id="P-1"), payout("u2")]], None,
        {(FILE, REGEX, "payout_id")}, '"payout_id": "P-1"'),
    "a payout in two batches of the date": (
        [(GOOD[:1], PAYOUT_COLUMNS, 1, 2), (GOOD[:1], PAYOUT_COLUMNS, 2, 2)], None,
        {("exports.payout_ids", "expect_column_values_to_be_in_set", "payout_id_once")},
        f'"payout_id": "{pid("u1")}"'),
    "a control total that is not the file's": (
        [(GOOD, PAYOUT_COLUMNS, 1, 1, {"total_fen": 999})], None,
        {(CONTROL, IN_SET, "total_fen_equals")}, '"control_total_fen": 999'),
    "a control row count that is not the file's": (
        [(GOOD, PAYOUT_COLUMNS, 1, 1, {"row_count": 3})], None,
        {(CONTROL, IN_SET, "row_count_equals")}, '"control_row_count": 3'),
    "a control digest that is not the file's": (
        [(GOOD, PAYOUT_COLUMNS, 1, 1, {"sha256": "0" * 64})], None,
        {(CONTROL, IN_SET, "sha256_equals")}, "column sha256_equals failed"),
    "the control record of another date": (
        [(GOOD, PAYOUT_COLUMNS, 1, 1, {"export_ds": EARLIER.isoformat()})], None,
        {(CONTROL, IN_SET, "names_this_file")}, "column names_this_file failed"),
    "files whose total is not the marts', on a day the marts do not reconcile": (
        [GOOD], lambda answer: {"batches": [(*answer["batches"][0][:5], 1001)],
                                "balanced": False},
        {(CONTROL, IN_SET, "total_fen_equals"), (CONTROL, IN_SET, "day_reconciles")},
        '"marts_total_fen": 1001'),
    "a batch the marts name that was not staged": (
        [GOOD], other_marts_batch,
        {(CONTROL, IN_SET, "staged_as_the_marts_name_it"), (CONTROL, IN_SET, "names_this_file"),
         (CONTROL, IN_SET, "row_count_equals"), (CONTROL, IN_SET, "total_fen_equals"),
         (CONTROL, IN_SET, "sha256_equals"), (CONTROL, IN_SET, "header_is_the_contracts"),
         (CONTROL, IN_SET, "lines_match_the_header")},
        f'"file": "{batch_name(DS, 2)}"'),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_staged_batch_fails_exactly_the_expectation_it_breaks(
        config, workdir, tmp_path, case):
    batches, change, broken, named = CASES[case]
    answer = stage(tmp_path / "staging" / "payouts", config, DS, *batches)
    with pytest.raises(QualityGateFailed) as failed:
        gate(config, workdir, tmp_path, marts_query((change or dict)(answer)))
    assert failures(workdir) == broken
    message = str(failed.value)
    assert all(f"suite {suite}: {expectation}" in message for suite, expectation, _ in broken)
    assert named in message


def test_a_batch_missing_from_the_data_package_fails(config, workdir, tmp_path):
    folder = tmp_path / "staging" / "payouts"
    answer = stage(folder, config, DS, GOOD)
    (folder / package_file_name(config, DS)).write_bytes(json_bytes({"resources": []}))
    with pytest.raises(QualityGateFailed, match="staged_as_the_marts_name_it"):
        gate(config, workdir, tmp_path, marts_query(answer))
    assert failures(workdir) == {(CONTROL, IN_SET, "staged_as_the_marts_name_it")}


def test_a_payout_already_published_on_an_earlier_date_fails(config, workdir, tmp_path):
    stage(tmp_path / "exports" / "payouts", config, EARLIER, [payout("u0"), payout("u2")])
    answer = stage(tmp_path / "staging" / "payouts", config, DS, GOOD)
    with pytest.raises(QualityGateFailed) as failed:
        gate(config, workdir, tmp_path, marts_query(answer))
    assert failures(workdir) == {
        ("exports.payout_ids", "expect_column_values_to_be_in_set", "payout_id_once")}
    message = str(failed.value)
    assert f'"file": "published {batch_name(EARLIER, 1)}"' in message
    assert f'"file": "staged {batch_name(DS, 1)}"' in message


def test_a_file_without_the_payout_columns_fails_on_its_columns(config, workdir,
                                                                 tmp_path):
    columns = tuple(c for c in PAYOUT_COLUMNS if c != "amount_fen")
    answer = stage(tmp_path / "staging" / "payouts", config, DS, (GOOD, columns))
    with pytest.raises(QualityGateFailed,
                       match="expect_table_columns_to_match_set failed"):
        gate(config, workdir, tmp_path, marts_query(answer))
    assert (FILE, "expect_table_columns_to_match_set", None) in failures(workdir)


def test_a_file_that_cannot_be_read_as_csv_fails_the_gate_naming_it(config, workdir, tmp_path):
    """A value longer than Python's csv field limit: the file cannot be parsed, and the
    gate says which file, instead of a traceback."""
    answer = stage(tmp_path / "staging" / "payouts", config, DS,
                   [payout("u1", user_id="x" * 200_000)])
    with pytest.raises(QualityGateFailed,
                       match=f"{batch_name(DS, 1)} cannot be read as CSV: field larger"):
        gate(config, workdir, tmp_path, marts_query(answer))


def test_a_line_with_more_values_than_the_header_fails(config, workdir, tmp_path):
    """The extra value would be dropped by a reader that maps values to the header's
    names; the control record counts the line's values instead."""
    folder = tmp_path / "staging" / "payouts"
    answer = stage(folder, config, DS, GOOD)
    path = folder / batch_name(DS, 1)
    header, first, second = path.read_bytes().decode().splitlines()
    path.write_bytes(f"{header}\n{first},extra\n{second}\n".encode())
    with pytest.raises(QualityGateFailed, match="lines_match_the_header"):
        gate(config, workdir, tmp_path, marts_query(answer))
    assert (CONTROL, IN_SET, "lines_match_the_header") in failures(workdir)
    assert (FILE, REGEX, "amount_fen") not in failures(workdir)
