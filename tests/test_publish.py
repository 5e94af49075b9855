"""Files that leave the pipeline: exactly once, byte-identical on re-runs, never changed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
import os
import stat

import pytest

from grouprebate.publish.draw import publish_seed_digest
from grouprebate.publish.files import PublishedFileConflict, write_once
from grouprebate.publish.payouts import DuplicatePayout, publish_payouts, stage_payouts
from grouprebate.publish.winner_list import publish_winner_list

DS = dt.date(2018, 11, 14)
HEADER = b"payout_id,campaign_id,group_id,user_id,amount_fen,claimed_at,due_by\n"
UTC = dt.UTC


def fake_marts(payouts: list[tuple], winners: list[tuple] = ()):
    """A stand-in for the warehouse: answers the two mart queries the exporters make."""

    def query(sql, params=()):
        if "marts.payouts" in sql:
            return sorted(p[1:] for p in payouts if p[0] == params[0])
        if "marts.winner_list" in sql:
            return list(winners)
        raise AssertionError(sql)

    return query


PAYOUTS = [
    (DS, "p2", "g1", "u2", 250, dt.datetime(2018, 11, 13, 2, tzinfo=UTC),
     dt.datetime(2018, 11, 14, 2, tzinfo=UTC)),
    (DS, "p1", "g1", "u1", 750, dt.datetime(2018, 11, 13, 1, tzinfo=UTC),
     dt.datetime(2018, 11, 14, 1, tzinfo=UTC)),
    (DS + dt.timedelta(days=1), "p3", "g2", "u3", 99, dt.datetime(2018, 11, 14, 1, tzinfo=UTC),
     dt.datetime(2018, 11, 15, 1, tzinfo=UTC)),
]


def export(query, config, ds, root):
    """What the DAG does when the exports gate passes: stage, then publish."""
    stage_payouts(query, config, ds, root / "staging", root / "exports")
    return publish_payouts(root / "staging", config, ds, root / "exports")


def test_payout_file_holds_the_days_payouts_and_a_matching_control(config, tmp_path):
    control = export(fake_marts(PAYOUTS), config, DS, tmp_path)
    path = tmp_path / "exports" / "payouts" / control["file"]
    assert path.read_bytes() == (
        HEADER + b"p1,xhq-2018,g1,u1,750,2018-11-13T09:00:00+08:00,2018-11-14T09:00:00+08:00\n"
        b"p2,xhq-2018,g1,u2,250,2018-11-13T10:00:00+08:00,2018-11-14T10:00:00+08:00\n")
    assert control == {"campaign_id": "xhq-2018", "export_ds": "2018-11-14",
                       "file": "payouts_xhq-2018_2018-11-14.csv", "row_count": 2,
                       "total_fen": 1000,
                       "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    saved = tmp_path / "exports" / "payouts" / f"{control['file']}.control.json"
    assert json.loads(saved.read_text()) == control


def test_staging_publishes_nothing_and_a_restage_replaces_the_staged_files(config, tmp_path):
    staging, out = tmp_path / "staging", tmp_path / "exports"
    stage_payouts(fake_marts(PAYOUTS), config, DS, staging, out)
    changed = [(*p[:4], p[4] + 1, *p[5:]) if p[1] == "p1" else p for p in PAYOUTS]
    control = stage_payouts(fake_marts(changed), config, DS, staging, out)
    assert not out.exists()
    assert sorted(p.name for p in (staging / "payouts").iterdir()) == [
        control["file"], f"{control['file']}.control.json"]
    rows = list(csv.DictReader((staging / "payouts" / control["file"]).open()))
    assert rows[0]["amount_fen"] == "751" and control["total_fen"] == 1001


def test_publishing_copies_the_staged_bytes(config, tmp_path):
    control = export(fake_marts(PAYOUTS), config, DS, tmp_path)
    for name in (control["file"], f"{control['file']}.control.json"):
        assert ((tmp_path / "exports" / "payouts" / name).read_bytes()
                == (tmp_path / "staging" / "payouts" / name).read_bytes())


def test_publishing_what_was_not_staged_names_the_missing_file(config, tmp_path):
    with pytest.raises(FileNotFoundError, match="payouts_xhq-2018_2018-11-14.csv was not staged"):
        publish_payouts(tmp_path / "staging", config, DS, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_rerunning_an_export_gives_the_same_bytes(config, tmp_path):
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    folder = tmp_path / "exports" / "payouts"
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first


def test_a_published_payout_file_is_never_changed(config, tmp_path):
    control = export(fake_marts(PAYOUTS), config, DS, tmp_path)
    folder = tmp_path / "exports" / "payouts"
    published = {p.name: p.read_bytes() for p in folder.iterdir()}
    changed = [(*p[:4], p[4] + 1, *p[5:]) if p[1] == "p1" else p for p in PAYOUTS]
    with pytest.raises(PublishedFileConflict, match="published files never change"):
        export(fake_marts(changed), config, DS, tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == published
    assert json.loads(published[f"{control['file']}.control.json"]) == control


def test_a_payout_never_appears_in_two_files(config, tmp_path):
    export(fake_marts(PAYOUTS), config, DS, tmp_path)
    moved = [(DS + dt.timedelta(days=1), *p[1:]) if p[1] == "p2" else p for p in PAYOUTS]
    with pytest.raises(DuplicatePayout, match="p2"):
        stage_payouts(fake_marts(moved), config, DS + dt.timedelta(days=1),
                      tmp_path / "staging", tmp_path / "exports")


def test_a_day_without_claims_still_gets_an_empty_file_and_control(config, tmp_path):
    control = export(fake_marts(PAYOUTS), config, dt.date(2018, 11, 20), tmp_path)
    assert control["row_count"] == 0 and control["total_fen"] == 0
    path = tmp_path / "exports" / "payouts" / control["file"]
    assert path.read_bytes() == HEADER


def test_public_winner_list_holds_keyed_pseudonyms_only(config, tmp_path):
    winners = [("g-secret-1", 5), ("g-secret-2", 7)]
    path = publish_winner_list(fake_marts([], winners), config, "k3y", tmp_path)
    text = path.read_text()
    assert "g-secret" not in text
    document = json.loads(text)
    expected = sorted(hmac.new(b"k3y", g.encode(), hashlib.sha256).hexdigest() for g, _ in winners)
    assert [w["group_pseudonym"] for w in document["winners"]] == expected
    assert set(document["winners"][0]) == {"group_pseudonym", "member_count"}
    assert document["draw_seed_sha256"] == hashlib.sha256(b"test-seed").hexdigest()


def test_seed_digest_commits_to_the_seed_without_revealing_it(config, tmp_path):
    path = publish_seed_digest(config, tmp_path)
    assert path.read_text().strip() == hashlib.sha256(b"test-seed").hexdigest()
    assert "test-seed" not in path.read_text()


def test_write_once_is_atomic_and_idempotent(tmp_path):
    target = tmp_path / "a" / "f.txt"
    assert write_once(target, b"x") is True
    assert write_once(target, b"x") is False
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


def test_every_published_and_staged_file_is_readable_by_its_owner_only(config, tmp_path):
    previous = os.umask(0o022)  # the usual umask would leave files world-readable
    try:
        export(fake_marts(PAYOUTS), config, DS, tmp_path)
        publish_seed_digest(config, tmp_path / "exports")
    finally:
        os.umask(previous)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
