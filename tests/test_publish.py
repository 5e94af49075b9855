"""Files that leave the pipeline: exactly once, byte-identical on re-runs, never changed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json

import pytest

from grouprebate.publish.draw import publish_seed_digest
from grouprebate.publish.files import PublishedFileConflict, write_once
from grouprebate.publish.payouts import DuplicatePayout, export_payouts
from grouprebate.publish.winner_list import publish_winner_list

DS = dt.date(2018, 11, 14)
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


def test_payout_file_holds_the_days_payouts_and_a_matching_control(config, tmp_path):
    control = export_payouts(fake_marts(PAYOUTS), config, DS, tmp_path)
    path = tmp_path / "payouts" / control["file"]
    rows = list(csv.DictReader(path.open()))
    assert [r["payout_id"] for r in rows] == ["p1", "p2"]
    assert rows[0] == {"payout_id": "p1", "campaign_id": "xhq-2018", "group_id": "g1",
                       "user_id": "u1", "amount_fen": "750",
                       "claimed_at": "2018-11-13T09:00:00+08:00",
                       "due_by": "2018-11-14T09:00:00+08:00"}
    assert control["row_count"] == 2 and control["total_fen"] == 1000
    assert control["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    saved = json.loads((tmp_path / "payouts" / f"{control['file']}.control.json").read_text())
    assert saved == control


def test_rerunning_an_export_gives_the_same_bytes(config, tmp_path):
    export_payouts(fake_marts(PAYOUTS), config, DS, tmp_path)
    first = {p.name: p.read_bytes() for p in (tmp_path / "payouts").iterdir()}
    export_payouts(fake_marts(PAYOUTS), config, DS, tmp_path)
    assert {p.name: p.read_bytes() for p in (tmp_path / "payouts").iterdir()} == first


def test_a_published_payout_file_is_never_changed(config, tmp_path):
    export_payouts(fake_marts(PAYOUTS), config, DS, tmp_path)
    changed = [(*p[:4], p[4] + 1, *p[5:]) if p[1] == "p1" else p for p in PAYOUTS]
    with pytest.raises(PublishedFileConflict, match="published files never change"):
        export_payouts(fake_marts(changed), config, DS, tmp_path)


def test_a_payout_never_appears_in_two_files(config, tmp_path):
    export_payouts(fake_marts(PAYOUTS), config, DS, tmp_path)
    moved = [(DS + dt.timedelta(days=1), *p[1:]) if p[1] == "p2" else p for p in PAYOUTS]
    with pytest.raises(DuplicatePayout, match="p2"):
        export_payouts(fake_marts(moved), config, DS + dt.timedelta(days=1), tmp_path)


def test_a_day_without_claims_still_gets_an_empty_file_and_control(config, tmp_path):
    control = export_payouts(fake_marts(PAYOUTS), config, dt.date(2018, 11, 20), tmp_path)
    assert control["row_count"] == 0 and control["total_fen"] == 0
    assert (tmp_path / "payouts" / control["file"]).read_text().startswith("payout_id,")


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
