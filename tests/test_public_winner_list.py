"""The winner list for people (CSV and a static page): keyed pseudonyms, masked names,
member counts, red packets only for large groups, every value escaped, nothing without
the key."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from dataclasses import replace
from html.parser import HTMLParser

import pytest
import yaml

from grouprebate.config import ConfigError, parse_config
from grouprebate.publish.winner_list import (
    display_name,
    publish_readable_winner_list,
    publish_winner_list,
    yuan,
)
from tests.conftest import CONFIG_PATH, TEST_ENV

KEY = "k3y"
# (group_id, member_count_at_draw_open, red_packet_fen, group_name)
WINNERS = [
    ("g-secret-1", 4, 123456, '<script>alert("x")</script>'),
    ("g-secret-2", 10, 5000000, "mamá & co"),
    ("g-secret-3", 15, 99, "=HYPERLINK(\"http://x\")"),
    ("g-secret-4", 9, 777, None),
]


def fake_marts(sql, params=()):
    assert "marts.winner_list" in sql and "marts.dim_groups" in sql, sql
    return list(WINNERS)


def hmac_hex(group_id: str) -> str:
    return hmac.new(KEY.encode(), group_id.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("name, shown", [
    ("小黑群", "小***群"), ("剁手姐妹团 7", "剁***7"), ("家人", "家***"), ("Z", "***"),
    ("", "***"), (None, "***"), ("  \tab\u202e c \n", "a***c"),  # spaces, a bidi override
    ('the "best" group 🎁', "t***🎁"), ("=SUM(A1)", "S***)"), ("-+@x", "***"),
    ("e\u0301clair", "é***r"),  # NFC: e + combining acute is one é
])
def test_a_display_name_keeps_only_the_first_and_last_visible_character(name, shown):
    assert display_name(name) == shown


def test_yuan_formats_integer_fen():
    assert [yuan(f) for f in (0, 5, 100, 123456, 5000000)] == [
        "¥0.00", "¥0.05", "¥1.00", "¥1,234.56", "¥50,000.00"]


def test_the_csv_lists_pseudonyms_names_counts_and_large_groups_packets(config, tmp_path):
    csv_path, _ = publish_readable_winner_list(fake_marts, config, KEY, tmp_path)
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert rows[0] == ["group_pseudonym", "display_name", "member_count", "red_packet_fen"]
    assert rows[1:] == sorted([
        [hmac_hex("g-secret-1"), "<***>", "4", ""],  # 4 < 10: no packet
        [hmac_hex("g-secret-2"), "m***o", "10", "5000000"],  # at the threshold: shown
        [hmac_hex("g-secret-3"), "H***)", "15", "99"],
        [hmac_hex("g-secret-4"), "***", "9", ""],
    ])
    assert "g-secret" not in csv_path.read_text() and "123456" not in csv_path.read_text()


def test_the_threshold_is_the_config_key(config, tmp_path):
    csv_path, _ = publish_readable_winner_list(
        fake_marts, replace(config, red_packet_min_members=16), KEY, tmp_path)
    assert [r["red_packet_fen"] for r in csv.DictReader(csv_path.open())] == [""] * 4


class Cells(HTMLParser):
    """The page's table cells as text, and every element that could run or fetch."""

    def __init__(self):
        super().__init__()
        self.cells, self.active, self.inside = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "img", "link", "iframe", "object", "embed"):
            self.active.append(tag)
        if tag == "td":
            self.inside = True
            self.cells.append("")

    def handle_endtag(self, tag):
        self.inside = False if tag == "td" else self.inside

    def handle_data(self, data):
        if self.inside:
            self.cells[-1] += data


def test_the_page_escapes_every_value_and_loads_nothing(config, tmp_path):
    _, html_path = publish_readable_winner_list(fake_marts, config, KEY, tmp_path)
    page = html_path.read_text(encoding="utf-8")
    parser = Cells()
    parser.feed(page)
    assert parser.active == []
    assert "default-src 'none'" in page
    rows = [parser.cells[i:i + 4] for i in range(0, len(parser.cells), 4)]
    assert sorted(rows) == sorted([
        [hmac_hex("g-secret-1"), "<***>", "4", "not shown"],
        [hmac_hex("g-secret-2"), "m***o", "10", "¥50,000.00"],
        [hmac_hex("g-secret-3"), "H***)", "15", "¥0.99"],
        [hmac_hex("g-secret-4"), "***", "9", "not shown"],
    ])
    assert "&lt;***&gt;" in page


def test_rewriting_the_readable_list_gives_the_same_bytes(config, tmp_path):
    paths = publish_readable_winner_list(fake_marts, config, KEY, tmp_path)
    first = [p.read_bytes() for p in paths]
    assert [p.read_bytes() for p in publish_readable_winner_list(
        fake_marts, config, KEY, tmp_path)] == first


def test_publishing_refuses_an_empty_key(config, tmp_path):
    with pytest.raises(ConfigError, match="pseudonym key is empty"):
        publish_readable_winner_list(fake_marts, config, "", tmp_path)
    with pytest.raises(ConfigError, match="pseudonym key is empty"):
        publish_winner_list(lambda sql, params=(): [("g1", 5)], config, "", tmp_path)
    assert not (tmp_path / "public").exists()


def test_publishing_refuses_to_run_without_the_key_variable(config):
    with pytest.raises(ConfigError, match="GROUPREBATE_PSEUDONYM_KEY is not set"):
        config.pseudonym_key(env={})


def raw_config(**publish) -> dict:
    raw = yaml.safe_load(CONFIG_PATH.read_text())
    raw["publish"].update(publish)
    return raw


def test_red_packet_min_members_defaults_to_ten_and_is_validated():
    assert parse_config(raw_config(), TEST_ENV).red_packet_min_members == 10
    assert parse_config(raw_config(red_packet_min_members=6),
                        TEST_ENV).red_packet_min_members == 6
    with pytest.raises(ConfigError, match="publish.red_packet_min_members must be positive"):
        parse_config(raw_config(red_packet_min_members=0), TEST_ENV)
    with pytest.raises(ConfigError, match="publish.red_packet_min_members: expected an integer"):
        parse_config(raw_config(red_packet_min_members="8"), TEST_ENV)
