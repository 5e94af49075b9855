"""Property: the warehouse's split (docs/rules.md §4) equals a plain-Python reading of it.

The real SQL of int_splits_allocated and member_splits, compiled by dbt once per test
session, runs on each generated example in an in-memory DuckDB that holds only their
input, int_splitters_identified, under the name and column types dbt gives it. Examples
range over red packets below, at and far above the cap, 1-15 splitters per group with
contributions from 0 to huge (all zero included), tied contributions, and user ids whose
code point order differs from UTF-16 and from any locale's collation.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import duckdb
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from grouprebate.config import load_config
from grouprebate.warehouse import dbt_runner as warehouse
from tests import dbt_fixtures as fx
from tests import reference_rules
from tests.conftest import CONFIG_PATH, TEST_ENV

SPLITTERS = "model.grouprebate.int_splitters_identified"
SPLITS = "model.grouprebate.int_splits_allocated"
MEMBER_SPLITS = "model.grouprebate.member_splits"
# int_splitters_identified as a build leaves it (DuckDB's information_schema).
SPLITTERS_COLUMNS = {
    "group_id": "varchar",
    "user_id": "varchar",
    "red_packet_fen": "bigint",
    "triggered_at": "timestamp with time zone",
    "contribution_fen": "bigint",
}
TRIGGERED_AT = dt.datetime(2018, 11, 12, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

CAP_FEN = load_config(CONFIG_PATH, env=TEST_ENV).red_packet_cap_fen  # 5,000,000
MAX_FEN = 2**63 - 1  # pools and red packets are bigint
# C, the sum of the splitters' contributions, is at most the group's (bigint) pool.
MAX_CONTRIBUTION = MAX_FEN // 15

# Ids that sort differently by code point (= UTF-8 bytes, Python's sorted()) than by
# UTF-16 ('\uffff' < '😀' < '\ue000' there), case-folding, accents or a locale; and
# prefixes, a NUL and look-alikes ('m10' < 'm11' < 'm9').
AWKWARD_IDS = ["m9", "m10", "m11", "M10", "m1", "m1\x00", "é", "e\u0301", "E", "ß", "SS",
               "İ", "i", " ", "\u00a0", "\uffff", "\U0001f600", "\ue000", "\U0010ffff", "z"]
GROUP_IDS = ["g01", "g02", "g\u00e903"]

user_ids = st.one_of(st.sampled_from(AWKWARD_IDS), st.text(min_size=1, max_size=5))
red_packets = st.one_of(st.integers(1, CAP_FEN), st.sampled_from([CAP_FEN, CAP_FEN + 1]),
                        st.integers(0, MAX_FEN))
amounts = st.one_of(st.integers(0, 1_000), st.integers(0, MAX_CONTRIBUTION))


@st.composite
def groups(draw) -> dict[str, tuple[int, dict[str, int]]]:
    """group_id -> (red packet, user_id -> contribution) for 1-3 triggered groups."""
    result = {}
    for group_id in GROUP_IDS[:draw(st.integers(1, len(GROUP_IDS)))]:
        users = draw(st.lists(user_ids, min_size=1, max_size=15, unique=True))
        kind = draw(st.sampled_from(["tied", "any", "all zero"]))
        if kind == "all zero":
            contributions = dict.fromkeys(users, 0)
        else:
            # "tied": a few amounts shared by many splitters, so remainders tie often.
            values = (st.sampled_from(draw(st.lists(amounts, min_size=1, max_size=3)))
                      if kind == "tied" else amounts)
            contributions = {user: draw(values) for user in users}
        result[group_id] = (draw(red_packets), contributions)
    return result


@dataclass(frozen=True)
class Relation:
    database: str
    schema: str
    identifier: str

    def __str__(self) -> str:
        return ".".join(f'"{part}"' for part in (self.database, self.schema, self.identifier))


@dataclass(frozen=True)
class CompiledSplit:
    splitters: Relation  # the input of int_splits_allocated
    splits: Relation  # int_splits_allocated, the input of member_splits
    splits_sql: str
    member_splits_sql: str

    def __repr__(self) -> str:  # short in Hypothesis's report of a failing example
        return f"CompiledSplit(<the compiled SQL of {self.splits} and member_splits>)"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, config) -> CompiledSplit:
    """The two models' SQL as `dbt compile` renders it for DuckDB (one compile a session)."""
    dbt = fx.shared_harness(tmp_path_factory, config)
    if dbt.manifest is None:
        dbt.parse()
    path = dbt.root / "split-property" / "warehouse.duckdb"  # the manifest's relation names
    path.parent.mkdir(parents=True, exist_ok=True)
    result = warehouse.run_dbt(
        ["compile", "--select", "int_splits_allocated", "member_splits",
         "--indirect-selection", "empty",
         "--vars", json.dumps(warehouse.build_vars(dbt.config, fx.LAST_DS)), *dbt.dbt_args()],
        dbt.env(path), manifest=dbt.manifest)
    code = {r.node.unique_id: r.node.compiled_code for r in result.result.results}
    nodes = dbt.manifest.nodes
    # The examples provide exactly the models' inputs: a new input must be added here.
    assert nodes[SPLITS].depends_on.nodes == [SPLITTERS]
    assert nodes[MEMBER_SPLITS].depends_on.nodes == [SPLITS]
    splitters, splits = (Relation(nodes[n].database, nodes[n].schema, nodes[n].alias)
                         for n in (SPLITTERS, SPLITS))
    assert str(splitters) in code[SPLITS] and str(splits) in code[MEMBER_SPLITS]
    return CompiledSplit(splitters, splits, code[SPLITS], code[MEMBER_SPLITS])


@pytest.fixture(scope="module")
def duck(compiled):
    """An in-memory DuckDB with the warehouse's database and schemas, and nothing in them."""
    con = duckdb.connect()
    con.execute(f"attach ':memory:' as \"{compiled.splitters.database}\"")
    for relation in (compiled.splitters, compiled.splits):
        con.execute(f'create schema if not exists "{relation.database}"."{relation.schema}"')
    yield con
    con.close()


def run_split(con, compiled: CompiledSplit, example) -> tuple[dict, dict]:
    """Rows of int_splits_allocated and member_splits, keyed by (group_id, user_id)."""
    columns = ", ".join(f"{name} {kind}" for name, kind in SPLITTERS_COLUMNS.items())
    con.execute(f"create or replace table {compiled.splitters} ({columns})")
    rows = [(group_id, user, red_packet, TRIGGERED_AT, contribution)
            for group_id, (red_packet, contributions) in example.items()
            for user, contribution in contributions.items()]
    con.executemany(f"insert into {compiled.splitters} values (?, ?, ?, ?, ?)", rows)
    con.execute(f"create or replace table {compiled.splits} as {compiled.splits_sql}")
    return (select(con, f"select * from {compiled.splits}"),
            select(con, f"select * from ({compiled.member_splits_sql}) as member_splits"))


def select(con, sql: str) -> dict[tuple[str, str], dict]:
    cursor = con.execute(sql)
    names = [c[0] for c in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    keyed = {(r["group_id"], r["user_id"]): r for r in rows}
    assert len(keyed) == len(rows), "one row per (group_id, user_id)"
    return keyed


@settings(max_examples=200, deadline=None)
@given(example=groups())
def test_the_dbt_split_gives_the_reference_parts_in_largest_remainder_order(
        compiled, duck, config, example):
    allocated, member_splits = run_split(duck, compiled, example)
    assert set(allocated) == {(g, u) for g, (_, cs) in example.items() for u in cs}

    for group_id, (red_packet, contributions) in example.items():
        parts = {u: allocated[group_id, u] for u in contributions}
        total = sum(contributions.values())
        weights = contributions if total > 0 else dict.fromkeys(contributions, 1)
        weight_total = sum(weights.values())
        floor = {u: red_packet * w // weight_total for u, w in weights.items()}
        remainder = {u: red_packet * w % weight_total for u, w in weights.items()}

        # Invariants, whatever the reference says.
        assert sum(r["split_fen"] for r in parts.values()) == red_packet
        for user, row in parts.items():
            assert row["split_fen"] >= 0
            assert row["split_fen"] - floor[user] in (0, 1), user
            assert (row["floor_fen"], row["split_remainder"]) == (floor[user], remainder[user])
            assert (row["contribution_fen"], row["group_contribution_fen"]) == \
                (contributions[user], total)
        # The extra fen go to a prefix of (largest remainder, then smallest user_id).
        order = sorted(contributions, key=lambda u: (-remainder[u], u))
        got_extra = [parts[u]["split_fen"] - floor[u] for u in order]
        assert got_extra == sorted(got_extra, reverse=True), (
            f"extra fen not in largest-remainder order {order!r}: {got_extra}")
        leftover = red_packet - sum(floor.values())
        if 0 < leftover < len(order) and \
                remainder[order[leftover - 1]] == remainder[order[leftover]]:
            event("a tie on the remainder decides who gets an extra fen")
        event("C = 0" if total == 0 else "C > 0")
        event("P above the cap" if red_packet > CAP_FEN else "P within the cap")

        expected = reference_rules.split(red_packet, contributions)
        assert {u: r["split_fen"] for u, r in parts.items()} == expected
        # member_splits: one row per part above 0 fen, with the same part.
        assert {u: r["split_fen"] for (g, u), r in member_splits.items() if g == group_id} == \
            {u: part for u, part in expected.items() if part > 0}

    assert {r["campaign_id"] for r in member_splits.values()} <= {config.campaign_id}
