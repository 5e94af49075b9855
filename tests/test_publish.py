"""Files that leave the pipeline: the seed digest, the public winner list, write-once files
(payout batches: tests/test_payout_batches.py)."""

from __future__ import annotations

import hashlib
import hmac
import json

from grouprebate.publish.draw import publish_seed_digest
from grouprebate.publish.files import write_once
from grouprebate.publish.winner_list import publish_winner_list


def fake_marts(payouts: list[tuple], winners: list[tuple] = ()):
    """A stand-in for the warehouse: answers the winner list query of the publisher."""

    def query(sql, params=()):
        if "marts.winner_list" in sql:
            return list(winners)
        raise AssertionError(sql)

    return query


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
