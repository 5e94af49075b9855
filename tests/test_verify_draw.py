"""`grouprebate verify-draw` re-runs the draw from its bundle alone: a bundle written from
the draw matches, any changed digest, rank or winner is a mismatch naming the difference,
and a folder that is not a bundle is an error message, never a traceback."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from grouprebate.cli import main
from grouprebate.publish.draw_bundle import publish_draw_bundle
from grouprebate.publish.files import PublishedFileConflict
from grouprebate.publish.winner_list import pseudonym

KEY = "bundle-key"
K = 3
# (group_id, pool_fen, member_count_at_draw_open): ids with a comma, a quote and unicode
GROUPS = [("g1", 90001, 4), ("g,2", 120002, 5), ('g"3', 8003, 15), ("群4", 5004, 6),
          ("g5", 7705, 4), ("g6", 300006, 9), ("g7", 1007, 4)]


def digest(seed: str, group_id: str) -> str:
    """docs/rules.md §4, written here again: the verifier's own digest is under test."""
    return hashlib.sha256(f"{seed}:{group_id}".encode()).hexdigest()


def draw_audit(seed: str, groups=GROUPS, k: int = K):
    """marts.draw_audit as the rule makes it: rank by digest, the k smallest win."""
    ranked = sorted(groups, key=lambda g: (digest(seed, g[0]), g[0].encode()))
    return [(g, p, m, digest(seed, g), rank, rank <= k)
            for rank, (g, p, m) in enumerate(ranked, start=1)]


def fake_query(rows):
    def query(sql, params=()):
        assert "marts.draw_audit" in sql, sql
        return list(rows)
    return query


@pytest.fixture
def small_config(config):
    return replace(config, draw_winner_count=K)


@pytest.fixture
def bundle(small_config, tmp_path) -> Path:
    return publish_draw_bundle(fake_query(draw_audit(small_config.draw_seed)), small_config,
                               KEY, tmp_path / "exports")


def verify(path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["verify-draw", str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    path.chmod(0o600)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def test_a_bundle_written_from_the_draw_matches(bundle, capsys):
    code, out, _ = verify(bundle, capsys)
    assert code == 0
    assert out.startswith("match: 3 winners among 7 eligible groups of xhq-2018")
    assert "every digest recomputed from the seed and its group id" in out


def test_the_public_part_alone_matches_and_says_what_it_could_not_check(bundle, capsys):
    shutil.rmtree(bundle / "internal")
    code, out, _ = verify(bundle, capsys)
    assert code == 0 and "public part only" in out


def test_the_winners_are_the_k_smallest_digests_by_pseudonym(bundle, small_config):
    seed = small_config.draw_seed
    expected = sorted(GROUPS, key=lambda g: digest(seed, g[0]))[:K]
    winners = rows_of(bundle / "public" / "winners.csv")
    assert winners[0] == ["draw_rank", "draw_digest", "group_pseudonym"]
    assert winners[1:] == [[str(n), digest(seed, g), pseudonym(KEY, g)]
                           for n, (g, _, _) in enumerate(expected, start=1)]


def test_one_changed_digest_is_a_mismatch_that_names_it(bundle, capsys):
    eligible = bundle / "public" / "eligible.csv"
    rows = rows_of(eligible)
    rows[4][1] = "0" * 64  # rank 4 now has the smallest digest
    write_rows(eligible, rows)
    code, out, _ = verify(bundle, capsys)
    assert code == 1
    assert out.startswith("mismatch: public/eligible.csv: digest " + "0" * 64)
    assert "rank is 1, but the bundle says 4" in out


def test_a_changed_digest_that_keeps_the_order_is_caught_by_the_internal_part(bundle, capsys):
    eligible = bundle / "public" / "eligible.csv"
    rows = rows_of(eligible)
    last = rows[-1][1]
    rows[-1][1] = "f" * 64 if last != "f" * 64 else "e" * 64  # still the largest
    write_rows(eligible, rows)
    code, out, _ = verify(bundle, capsys)
    assert code == 1
    assert out.startswith(f"mismatch: rank 7: internal/groups.csv has pseudonym {rows[-1][2]}"
                          f" (rank 7, digest {last}), public/eligible.csv has ")


def test_an_internal_digest_not_of_its_group_id_is_a_mismatch_naming_the_group(
        bundle, small_config, capsys):
    groups = bundle / "internal" / "groups.csv"
    rows = rows_of(groups)
    rows[2][3] = "g-other"
    write_rows(groups, rows)
    code, out, _ = verify(bundle, capsys)
    assert code == 1
    assert "group 'g-other' (rank 2) has digest" in out
    assert digest(small_config.draw_seed, "g-other") in out


def test_one_changed_winner_is_a_mismatch_that_names_it(bundle, capsys):
    winners = bundle / "public" / "winners.csv"
    eligible = rows_of(bundle / "public" / "eligible.csv")
    rows = rows_of(winners)
    rows[3] = eligible[4][:3]  # the winner of rank 3 replaced by the group of rank 4
    write_rows(winners, rows)
    code, out, _ = verify(bundle, capsys)
    assert code == 1
    assert out.startswith(
        f"mismatch: public/winners.csv row 3: the draw's winner of rank 3 is pseudonym "
        f"{eligible[3][2]} (rank 3, digest {eligible[3][1]}), the bundle lists pseudonym "
        f"{eligible[4][2]} (rank 4")


def test_a_loser_marked_as_winner_is_a_mismatch(bundle, capsys):
    eligible = bundle / "public" / "eligible.csv"
    rows = rows_of(eligible)
    rows[5][3] = "true"
    write_rows(eligible, rows)
    code, out, _ = verify(bundle, capsys)
    assert code == 1 and "rank 5 (pseudonym" in out and "it is false" in out


def test_a_seed_that_is_not_the_committed_one_is_a_mismatch(bundle, capsys):
    path = bundle / "public" / "draw.json"
    draw = json.loads(path.read_text())
    draw["seed"] = "another-seed"
    path.chmod(0o600)
    path.write_text(json.dumps(draw))
    code, out, _ = verify(bundle, capsys)
    assert code == 1
    expected = hashlib.sha256(b"another-seed").hexdigest()
    assert out.startswith(f"mismatch: public/draw.json: the seed's SHA-256 is {expected}")


def test_an_ineligible_group_in_the_internal_part_is_a_mismatch(config, tmp_path, capsys):
    small = replace(config, draw_winner_count=K)
    rows = draw_audit(small.draw_seed, [*GROUPS, ("g-small", 500, 3)])
    bundle = publish_draw_bundle(fake_query(rows), small, KEY, tmp_path)
    code, out, _ = verify(bundle, capsys)
    assert code == 1 and "group 'g-small' is not eligible: pool 500 fen, 3 members" in out


def test_fewer_eligible_groups_than_k_all_win(config, tmp_path, capsys):
    bundle = publish_draw_bundle(fake_query(draw_audit(config.draw_seed, GROUPS[:2], k=100)),
                                 config, KEY, tmp_path)
    code, out, _ = verify(bundle, capsys)
    assert code == 0 and out.startswith("match: 2 winners among 2 eligible groups")


@pytest.mark.parametrize("damage, message", [
    (lambda b: shutil.rmtree(b / "public"), "public/draw.json: missing"),
    (lambda b: (b / "public" / "draw.json").write_text("{not json"), "not readable JSON"),
    (lambda b: (b / "public" / "draw.json").write_text('{"bundle_format": 1}'),
     "field 'campaign_id' must be a JSON str"),
    (lambda b: (b / "public" / "winners.csv").write_text("rank,who\n"),
     "winners.csv: the header must be draw_rank,draw_digest,group_pseudonym"),
    (lambda b: (b / "public" / "eligible.csv").write_bytes(b"\xff\xfe"), "not readable CSV"),
    (lambda b: (b / "public" / "eligible.csv").write_text(
        "draw_rank,draw_digest,group_pseudonym,is_winner\n1,XYZ,ab,true\n"),
     "eligible.csv line 2: draw_digest 'XYZ' is not 64 lowercase hex digits"),
    (lambda b: (b / "internal" / "groups.csv").write_text(
        "draw_rank,draw_digest,group_pseudonym,group_id,pool_fen,member_count_at_draw_open\n"
        "1,2\n"), "groups.csv line 2: expected 6 fields, got 2"),
])
def test_a_malformed_bundle_is_a_clear_error_not_a_traceback(bundle, capsys, damage, message):
    for path in bundle.rglob("*"):
        if path.is_file():
            path.chmod(0o600)
    damage(bundle)
    code, out, err = verify(bundle, capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: not a readable draw bundle: ") and message in err
    assert "Traceback" not in err


def test_a_member_who_knows_the_group_id_finds_the_group(bundle, small_config, capsys):
    code, out, _ = verify(bundle, capsys, "--group", "g5", "--group", "nobody")
    assert code == 0
    ranked = [g for g, *_ in draw_audit(small_config.draw_seed)]
    rank = ranked.index("g5") + 1
    result = "won" if rank <= K else "did not win"
    assert (f"group 'g5': digest {digest(small_config.draw_seed, 'g5')}, rank {rank} of 7, "
            f"{result} (pseudonym {pseudonym(KEY, 'g5')})") in out
    assert "group 'nobody': digest" in out and "is not among the eligible groups" in out


def test_the_public_part_holds_no_group_id_and_no_pool(bundle):
    public = bundle / "public"
    text = "".join(p.read_text() for p in public.iterdir())
    cells = {cell for name in ("eligible.csv", "winners.csv") for row in rows_of(public / name)
             for cell in row}
    cells |= {str(v) for v in json.loads((public / "draw.json").read_text()).values()}
    for group_id, pool, _ in GROUPS:
        assert group_id not in text
        assert str(pool) not in cells


def test_the_internal_part_is_marked_and_owner_only(config, tmp_path):
    previous = os.umask(0o022)  # the usual umask would leave folders and files readable
    try:
        bundle = publish_draw_bundle(fake_query(draw_audit(config.draw_seed)), config, KEY,
                                     tmp_path)
    finally:
        os.umask(previous)
    internal = bundle / "internal"
    assert stat.S_IMODE(internal.stat().st_mode) == 0o700
    assert "INTERNAL - owner only" in (internal / "NOTICE.txt").read_text()
    for path in bundle.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_rewriting_the_bundle_gives_the_same_bytes_and_a_changed_draw_is_refused(
        bundle, small_config, tmp_path):
    before = {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    rows = draw_audit(small_config.draw_seed)
    publish_draw_bundle(fake_query(rows), small_config, KEY, tmp_path / "exports")
    assert {p: p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before
    changed = [(*r[:5], not r[5]) if r[4] == 1 else r for r in rows]
    with pytest.raises(PublishedFileConflict):
        publish_draw_bundle(fake_query(changed), small_config, KEY, tmp_path / "exports")


def test_an_internal_part_that_cannot_be_read_is_a_clear_error(bundle, capsys, monkeypatch):
    """As root the test cannot lose read access, so exists() fails as it does on EACCES."""
    original = Path.exists

    def exists(self, *args, **kwargs):
        if self.parent.name == "internal":
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    code, _, err = verify(bundle, capsys)
    assert code == 2 and "internal/groups.csv: cannot be read" in err and "Traceback" not in err
