"""What the public gets from a real run (the short campaign, tests/e2e_campaign.py): the
draw bundle verifies with `grouprebate verify-draw` and a tampered copy does not; the
public files hold no user id, no group id and no buyer-level amount; the static winner
page renders its list in a real browser."""

from __future__ import annotations

import csv
import io
import json
import shutil
import stat
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from grouprebate.publish.winner_list import pseudonym
from tests.test_data_docs_browser import rendered

pytestmark = pytest.mark.e2e

KEY = "e2e-key"  # tests/e2e_campaign.py gives the runs this pseudonym key


def exports(campaign) -> Path:
    return campaign["workdir"] / "exports"


def bundle_of(campaign) -> Path:
    return exports(campaign) / "draw" / f"bundle_{campaign['config'].campaign_id}"


def verify_draw(bundle: Path) -> subprocess.CompletedProcess:
    """`grouprebate verify-draw`, run as a member of the public would type it."""
    return subprocess.run([sys.executable, "-m", "grouprebate.cli", "verify-draw", str(bundle)],
                          capture_output=True, text=True, timeout=120)


def warehouse(campaign, sql: str) -> list[tuple]:
    with duckdb.connect(str(campaign["workdir"] / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def public_copy(campaign, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_of(campaign), copy)
    for path in copy.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    return copy


def edit_csv(path: Path, change) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def test_verify_draw_matches_the_bundle_of_a_real_run(campaign):
    done = verify_draw(bundle_of(campaign))
    assert done.returncode == 0, done.stdout + done.stderr
    winners = {pseudonym(KEY, g) for (g,) in warehouse(campaign,
                                                       "select group_id from marts.winner_list")}
    eligible = warehouse(campaign, "select count(*) from marts.draw_audit")[0][0]
    assert done.stdout.startswith(f"match: {len(winners)} winners among {eligible} eligible")
    with (bundle_of(campaign) / "public" / "winners.csv").open() as handle:
        assert {row["group_pseudonym"] for row in csv.DictReader(handle)} == winners
    listed = json.loads((exports(campaign) / "public" / "winner_list_test-short.json").read_text())
    assert {w["group_pseudonym"] for w in listed["winners"]} == winners


def test_verify_draw_names_one_changed_digest_of_a_real_bundle(campaign, tmp_path):
    copy = public_copy(campaign, tmp_path)
    edit_csv(copy / "public" / "eligible.csv",
             lambda rows: rows[2].__setitem__(1, "0" * 64))  # rank 2 claims the smallest
    done = verify_draw(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"mismatch: public/eligible.csv: digest {'0' * 64} is the 1. "
                                  "smallest, so its rank is 1, but the bundle says 2")


def test_verify_draw_names_one_changed_winner_of_a_real_bundle(campaign, tmp_path):
    copy = public_copy(campaign, tmp_path)
    with (copy / "public" / "eligible.csv").open() as handle:
        eligible = list(csv.reader(handle))
    k = campaign["config"].draw_winner_count
    assert len(eligible) - 1 > k, "the short campaign needs a losing group for this test"
    loser = eligible[k + 1]
    edit_csv(copy / "public" / "winners.csv", lambda rows: rows.__setitem__(k, loser[:3]))
    done = verify_draw(copy)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"mismatch: public/winners.csv row {k}: the draw's winner "
                                  f"of rank {k} is pseudonym {eligible[k][2]}")
    assert f"the bundle lists pseudonym {loser[2]} (rank {k + 1}" in done.stdout


def test_the_internal_part_is_owner_only_and_the_public_part_has_no_id_or_pool(campaign):
    internal = bundle_of(campaign) / "internal"
    assert stat.S_IMODE(internal.stat().st_mode) == 0o700
    public = (bundle_of(campaign) / "public" / "eligible.csv").read_text()
    assert not any(g in public for (g,) in warehouse(campaign,
                                                     "select group_id from marts.draw_audit"))


def landing_ids(landing: Path) -> tuple[set[str], set[str], set[int]]:
    """Every user id, group id and buyer-level amount in the campaign's landing files."""
    users, groups, amounts = set(), set(), set()
    for path in landing.rglob("*.jsonl"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the generator's deliberately bad lines
            if not isinstance(row, dict):
                continue
            for name, value in row.items():
                if name.endswith("user_id") and isinstance(value, str) and value:
                    users.add(value)
                if name == "group_id" and isinstance(value, str) and value:
                    groups.add(value)
                if name in ("amount_fen", "total_fen") and isinstance(value, int):
                    amounts.add(value)
    return users, groups, amounts


class TableCells(HTMLParser):
    """The text of every table cell of a page: the data it shows."""

    def __init__(self):
        super().__init__()
        self.cells: list[str] = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "td":
            self.inside = True
            self.cells.append("")

    def handle_endtag(self, tag):
        self.inside = self.inside and tag != "td"

    def handle_data(self, data):
        if self.inside:
            self.cells[-1] += data


def scalars(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in scalars(v)]
    return [str(value)]


def data_values(path: Path) -> list[str]:
    """Every value a public file carries (CSV cells, JSON scalars, the page's table cells,
    its yuan figures back in fen), without the words and markup around them."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    if path.suffix == ".json":
        return scalars(json.loads(text))
    parser = TableCells()
    parser.feed(text)
    return [str(int(c[1:].replace(",", "").replace(".", ""))) if c.startswith("¥") else c
            for c in parser.cells]


def test_the_public_outputs_hold_no_user_id_group_id_or_buyer_level_amount(campaign):
    users, groups, amounts = landing_ids(campaign["root"] / "landing")
    assert len(users) > 100 and len(groups) >= 60
    for sql in ("select split_fen from marts.member_splits",
                "select contribution_fen from marts.member_splits",
                "select amount_fen from marts.payouts",
                "select contribution_fen from marts.fct_attributed_orders",
                "select pool_fen from marts.group_pools"):
        amounts |= {v for (v,) in warehouse(campaign, sql)}
    threshold = campaign["config"].red_packet_min_members
    shown = {p for (p,) in warehouse(campaign, "select red_packet_fen from marts.winner_list "
                                               f"where member_count_at_draw_open >= {threshold}")}
    # below 100 fen an amount cannot be told from a rank or a member count
    secret = {str(a) for a in amounts - shown if a >= 100}
    files = [*(exports(campaign) / "public").iterdir(),
             *(bundle_of(campaign) / "public").iterdir()]
    assert sorted(p.suffix for p in files) == [".csv", ".csv", ".csv", ".html", ".json", ".json"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not [u for u in users if u in text], path
        assert not [g for g in groups if g in text], path
        values = data_values(path)
        assert values and not set(values) & secret, (path, sorted(set(values) & secret))


def test_the_winner_page_renders_its_list_in_a_real_browser(campaign):
    page = exports(campaign) / "public" / "winner_list_test-short.html"
    dom = rendered(page)
    with (exports(campaign) / "public" / "winner_list_test-short.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and dom.count("<tr>") == len(rows) + 1  # the header row and one per winner
    for row in rows:
        assert row["group_pseudonym"] in dom
    assert f"{len(rows)} winning groups" in dom


def test_the_rerun_snapshots_cover_the_bundle_and_the_readable_list(campaign):
    """tests/test_end_to_end.py re-runs dates and the calendar and compares these bytes."""
    assert {"draw/bundle_test-short/public/draw.json",
            "draw/bundle_test-short/public/eligible.csv",
            "draw/bundle_test-short/public/winners.csv",
            "draw/bundle_test-short/internal/groups.csv",
            "public/winner_list_test-short.csv",
            "public/winner_list_test-short.html"} <= set(campaign["exports"])
