"""Finance's payout batches: files as the marts number them, a control record beside each,
a data package finance validates with frictionless, exactly once, never changed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import stat

import pytest
from frictionless import Package

from grouprebate.publish.draw import publish_seed_digest
from grouprebate.publish.files import PublishedFileConflict
from grouprebate.publish.payouts import (
    BatchMismatch,
    DuplicatePayout,
    package_file_name,
    publish_payouts,
    stage_payouts,
)
from tests.payout_marts import fake_marts, payout, pid

DS = dt.date(2018, 11, 14)
HEADER = b"payout_id,campaign_id,group_id,user_id,amount_fen,claimed_at,due_by\n"
# Ids as upstream may send them: commas, quotes, CR, LF, tabs, non-ASCII, SQL and shell.
HOSTILE = ["g,1", 'g"2"', "g\n3", "g\r\n4", "小黑群 5", "g\t6", "'; drop table x; --",
           "$(rm -rf /)", " g9 ", "é\u200b"]


PAYOUTS = [
    payout(DS, "g1", "u2", 250, 1),
    payout(DS, "g1", "u1", 750),
    payout(DS, "g2", "u4", 99),
    payout(DS + dt.timedelta(days=1), "g2", "u3", 99),
]


def export(query, config, ds, root) -> dict:
    """What the DAG does when the exports gate passes: stage, then publish."""
    stage_payouts(query, config, ds, root / "staging", root / "exports")
    return publish_payouts(root / "staging", config, ds, root / "exports")


def read(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def validate(folder, config, ds):
    """frictionless's own validator on the date's data package, as finance runs it."""
    return Package(str(folder / package_file_name(config, ds))).validate()


def test_batches_hold_the_days_payouts_in_order_with_matching_controls(config, tmp_path):
    result = export(fake_marts(PAYOUTS), config, DS, tmp_path)
    folder = tmp_path / "exports" / "payouts"
    first, second = result["batches"]
    ordered = sorted(PAYOUTS[:3], key=lambda p: p[1])
    assert (folder / first["file"]).read_bytes() == HEADER + b"".join(
        f"{p[1]},xhq-2018,{p[2]},{p[3]},{p[4]},{p[5].astimezone(config.tz).isoformat()},"
        f"{p[6].astimezone(config.tz).isoformat()}\n".encode() for p in ordered[:2])
    assert [r["payout_id"] for r in read(folder / second["file"])] == [ordered[2][1]]
    for number, control in enumerate(result["batches"], 1):
        data = (folder / control["file"]).read_bytes()
        rows = read(folder / control["file"])
        assert control == {
            "campaign_id": "xhq-2018", "export_ds": "2018-11-14",
            "batch_id": f"xhq-2018_2018-11-14_{number:03d}", "batch_number": number,
            "batch_count": 2, "file": f"payouts_xhq-2018_2018-11-14_{number:03d}.csv",
            "row_count": len(rows), "total_fen": sum(int(r["amount_fen"]) for r in rows),
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        saved = folder / f"{control['file']}.control.json"
        assert json.loads(saved.read_text()) == control


def test_the_published_batches_validate_with_frictionless(config, tmp_path):
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    report = validate(tmp_path / "exports" / "payouts", config, DS)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert [task.name for task in report.tasks] == ["xhq-2018_2018-11-14_001",
                                                     "xhq-2018_2018-11-14_002"]


def test_hostile_ids_survive_the_csv_and_the_validator(config, tmp_path):
    """Every id comes back exactly through a CSV reader and through frictionless, and a
    field holding a comma, a quote, CR or LF is quoted (RFC 4180)."""
    payouts = [payout(DS, group, f"u-{group}", 100 + i) for i, group in enumerate(HOSTILE)]
    result = export(fake_marts(payouts, max_rows=3), config, DS, tmp_path)
    folder = tmp_path / "exports" / "payouts"
    back = [(r["group_id"], r["user_id"]) for c in result["batches"]
            for r in read(folder / c["file"])]
    assert sorted(back) == sorted((g, f"u-{g}") for g in HOSTILE)
    data = b"".join((folder / c["file"]).read_bytes() for c in result["batches"])
    for group in HOSTILE:
        if any(c in group for c in ',"\r\n'):
            assert ('"' + group.replace('"', '""') + '"').encode() in data
    report = validate(folder, config, DS)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    read_back = Package(str(folder / package_file_name(config, DS)))
    rows = [(row["group_id"], row["user_id"], row["amount_fen"])
            for resource in read_back.resources for row in resource.read_rows()]
    assert sorted(rows) == sorted((g, f"u-{g}", 100 + i) for i, g in enumerate(HOSTILE))


@pytest.mark.parametrize(("edit", "error"), [
    (lambda data: re.sub(rb",\d+,2018-", b",0,2018-", data, count=1), "constraint-error"),
    (lambda data: re.sub(rb",\d+,2018-", b",7.5,2018-", data, count=1), "type-error"),
    (lambda data: data.replace(b"+08:00", b"", 1), "hash-count"),
    (lambda data: data + data.splitlines(keepends=True)[1], "primary-key"),
])
def test_frictionless_rejects_a_batch_that_breaks_the_schema_or_the_digest(
        config, tmp_path, edit, error):
    result = export(fake_marts(PAYOUTS), config, DS, tmp_path)
    path = tmp_path / "exports" / "payouts" / result["batches"][0]["file"]
    os.chmod(path, 0o600)
    path.write_bytes(edit(path.read_bytes()))
    report = validate(tmp_path / "exports" / "payouts", config, DS)
    assert not report.valid
    assert error in {e.type for task in report.tasks for e in task.errors}


def test_a_split_at_seven_rows_keeps_every_payout_exactly_once(config, tmp_path):
    payouts = [payout(DS, f"g{i % 4}", f"u{i}", 10 + i) for i in range(23)]
    result = export(fake_marts(payouts, max_rows=7), config, DS, tmp_path)
    assert [c["row_count"] for c in result["batches"]] == [7, 7, 7, 2]
    folder = tmp_path / "exports" / "payouts"
    ids = [r["payout_id"] for c in result["batches"] for r in read(folder / c["file"])]
    assert sorted(ids) == sorted(p[1] for p in payouts) and len(set(ids)) == 23
    assert validate(folder, config, DS).valid


def test_staging_publishes_nothing_and_a_restage_replaces_the_staged_files(config, tmp_path):
    staging, out = tmp_path / "staging", tmp_path / "exports"
    stage_payouts(fake_marts(PAYOUTS, max_rows=1), config, DS, staging, out)
    result = stage_payouts(fake_marts(PAYOUTS, max_rows=2), config, DS, staging, out)
    assert not out.exists()
    files = [c["file"] for c in result["batches"]]
    assert sorted(p.name for p in (staging / "payouts").iterdir()) == sorted([
        *files, *(f"{f}.control.json" for f in files), package_file_name(config, DS),
        "payouts_xhq-2018.schema.json"])


def test_publishing_copies_the_staged_bytes(config, tmp_path):
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    published = {p.name: p.read_bytes() for p in (tmp_path / "exports" / "payouts").iterdir()}
    assert len(published) == 6
    assert published == {p.name: p.read_bytes()
                         for p in (tmp_path / "staging" / "payouts").iterdir()}


def test_publishing_what_was_not_staged_names_the_missing_file(config, tmp_path):
    with pytest.raises(FileNotFoundError,
                       match="payouts_xhq-2018_2018-11-14.datapackage.json was not staged"):
        publish_payouts(tmp_path / "staging", config, DS, tmp_path / "exports")
    stage_payouts(fake_marts(PAYOUTS), config, DS, tmp_path / "staging", tmp_path / "exports")
    (tmp_path / "staging" / "payouts" / "payouts_xhq-2018_2018-11-14_002.csv").unlink()
    with pytest.raises(FileNotFoundError, match="payouts_xhq-2018_2018-11-14_002.csv was not"):
        publish_payouts(tmp_path / "staging", config, DS, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_rerunning_every_date_gives_the_same_bytes(config, tmp_path):
    dates = [DS, DS + dt.timedelta(days=1), DS + dt.timedelta(days=2)]
    for ds in dates:
        export(fake_marts(PAYOUTS), config, ds, tmp_path)
    folder = tmp_path / "exports" / "payouts"
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    for ds in dates:
        export(fake_marts(PAYOUTS), config, ds, tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_a_published_batch_is_never_changed(config, tmp_path):
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    folder = tmp_path / "exports" / "payouts"
    published = {p.name: p.read_bytes() for p in folder.iterdir()}
    changed = [(*p[:4], p[4] + 1, *p[5:]) if p[3] == "u1" else p for p in PAYOUTS]
    with pytest.raises(PublishedFileConflict, match="published files never change"):
        export(fake_marts(changed), config, DS, tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == published


def test_a_payout_never_appears_in_two_files(config, tmp_path):
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    moved = [(DS + dt.timedelta(days=1), *p[1:]) if p[3] == "u2" else p for p in PAYOUTS]
    with pytest.raises(DuplicatePayout, match=pid("g1", "u2")):
        stage_payouts(fake_marts(moved), config, DS + dt.timedelta(days=1),
                      tmp_path / "staging", tmp_path / "exports")


def test_a_day_without_claims_still_gets_an_empty_batch_and_control(config, tmp_path):
    ds = dt.date(2018, 11, 20)
    result = export(fake_marts(PAYOUTS), config, ds, tmp_path)
    [control] = result["batches"]
    assert (control["batch_id"], control["row_count"], control["total_fen"]) == (
        "xhq-2018_2018-11-20_001", 0, 0)
    folder = tmp_path / "exports" / "payouts"
    assert (folder / control["file"]).read_bytes() == HEADER
    assert validate(folder, config, ds).valid


def test_batches_that_disagree_with_their_lines_are_not_exported(config, tmp_path):
    with pytest.raises(BatchMismatch, match="announces 2 rows and 350 fen, .* 2 rows and 349 fen"):
        stage_payouts(fake_marts(PAYOUTS, announce=1), config, DS, tmp_path / "staging",
                      tmp_path / "exports")
    with pytest.raises(BatchMismatch, match="no batch for ds=2018-11-14"):
        stage_payouts(lambda sql, params=(): [], config, DS, tmp_path / "staging",
                      tmp_path / "exports")


def test_every_published_and_staged_file_is_readable_by_its_owner_only(config, tmp_path):
    previous = os.umask(0o022)  # the usual umask would leave files world-readable
    try:
        export(fake_marts(PAYOUTS), config, DS, tmp_path)
        publish_seed_digest(config, tmp_path / "exports")
    finally:
        os.umask(previous)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 13
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_csv_reads_back_with_a_plain_reader(config, tmp_path):
    """The file is only a header and detail rows: any CSV reader gets the payouts."""
    result = export(fake_marts(PAYOUTS), config, DS, tmp_path)
    data = (tmp_path / "exports" / "payouts" / result["batches"][0]["file"]).read_text()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[0] == list(HEADER.decode().strip().split(","))
    assert all(len(row) == 7 for row in rows)
