"""The DuckDB peer (grouprebate/bench/peer.py) computes the Spark attribution row for row.

A generated campaign goes through the real Spark ingest and attribution once for the
module. Ingest has a large cost per landing date, so the arrivals up to the freeze are
gathered into two landing dates, an accumulation date and the freeze date (arriving later
than generated is allowed by the contract, and the lines keep their arrival order). Both
are ingested before either date is attributed, so the accumulation date's run must leave
the freeze date's partition out. A smaller campaign of another year, timezone and rules
(tests/conftest.py ANOTHER_CAMPAIGN) goes the same way for a test of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from grouprebate.bench.peer import attribute_duckdb, differences
from grouprebate.demo.generator import generate
from spark_jobs.attribute_orders import attribute
from spark_jobs.ingest_landing import ingest

# The ingest's parse is most of this module's time (in the tests' session, about a
# millisecond of CPU per landing line); 300 groups, some 72,000 lines up to the freeze,
# already hold every case test_the_compared_campaign_exercises_the_rules asks for.
GROUPS, SEED = 300, 2018
ACCUMULATING = dt.date(2018, 11, 6)
# Another campaign (tests/conftest.py ANOTHER_CAMPAIGN): its accumulation date comes after
# the end of daylight saving time, 2019-11-03 in New York, whose 01:00-02:00 comes twice
# (05:00-07:00 UTC).
ANOTHER_GROUPS, ANOTHER_ACCUMULATING = 150, dt.date(2019, 11, 6)
REPEATED_HOUR_UTC = ("2019-11-03 05:00:00+00", "2019-11-03 07:00:00+00")


def gather_arrivals(generated: Path, landing: Path, dates: list[dt.date]) -> None:
    """Land the generated files in the first of `dates` on or after their own date, one file
    per source and date: the lines in arrival order (date, file name, line), so the first
    arrival of an id stays first. Files arriving after the last date are left out."""
    for folder in sorted(generated.glob("*/ds=*")):
        arrived = dt.date.fromisoformat(folder.name.removeprefix("ds="))
        if arrived > dates[-1]:
            continue
        ds = min(d for d in dates if d >= arrived)
        target = landing / folder.parent.name / f"ds={ds}"
        target.mkdir(parents=True, exist_ok=True)
        with (target / "gathered.jsonl").open("ab") as gathered:
            for file in sorted(folder.iterdir()):
                gathered.write(file.read_bytes())


def ingested_and_attributed(spark, root: Path, config, groups: int,
                            arrivals: list[dt.date]) -> Path:
    """A campaign of `groups` generated, its arrivals gathered into `arrivals`, ingested,
    then attributed by Spark on each of them; the lake."""
    generate(root / "generated", groups, SEED, config=config, workers=1)
    gather_arrivals(root / "generated", root / "landing", arrivals)
    lake = root / "lake"
    for ds in arrivals:
        ingest(spark, str(root / "landing"), str(lake), config, ds)
    for ds in arrivals:
        attribute(spark, str(lake), config, ds)
    return lake


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory, config) -> Path:
    """The campaign ingested, and attributed by Spark on ACCUMULATING and the freeze date."""
    return ingested_and_attributed(spark, tmp_path_factory.mktemp("duckdb_peer"), config,
                                   GROUPS, [ACCUMULATING, config.freeze_ds])


@pytest.fixture
def peer(lake, config) -> Iterator[duckdb.DuckDBPyConnection]:
    """The peer's tables for the freeze date, in a connection of the test's own."""
    con = duckdb.connect()
    attribute_duckdb(con, lake, config, config.freeze_ds)
    yield con
    con.close()


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(f"select count(*) from {sql}").fetchall()[0][0]


def test_the_duckdb_peer_attributes_exactly_as_the_spark_job(lake, config):
    con = duckdb.connect()
    for ds in (ACCUMULATING, config.freeze_ds):  # one connection: each run replaces the tables
        attribute_duckdb(con, lake, config, ds)
        assert differences(con, lake, ds) == []


def test_the_compared_campaign_exercises_the_rules(peer):
    """The equality above means something: both engines had every rule to apply."""
    assert count(peer, "attributed_orders") > 1000
    assert count(peer, "attributed_orders where refunded_fen > 0") > 10
    assert count(peer, "attributed_orders where contribution_fen = 0") > 0
    assert count(peer, "group_pools where not is_valid") > 10
    assert count(peer, "group_pools where is_eligible") > 100
    assert count(peer, "group_pools where is_valid and not is_eligible") > 0


def test_a_contribution_one_fen_off_is_reported(peer, lake, config):
    peer.execute("""
        update member_contributions set contribution_fen = contribution_fen + 1
        where (group_id, user_id) = (
            select (group_id, user_id) from member_contributions order by all limit 1)
    """)
    found = differences(peer, lake, config.freeze_ds)
    assert [line.split(", e.g.")[0] for line in found] == [
        "member_contributions: 1 row(s) only in Spark's partition",
        "member_contributions: 1 row(s) only in the DuckDB peer",
    ]


def test_a_duplicated_row_is_reported(peer, lake, config):
    peer.execute("insert into group_pools select * from group_pools order by all limit 1")
    found = differences(peer, lake, config.freeze_ds)
    assert len(found) == 1
    assert found[0].startswith("group_pools: 1 row(s) only in the DuckDB peer, e.g. (group_id=")


def test_a_column_of_another_type_is_reported(peer, lake, config):
    peer.execute("alter table attributed_orders alter contribution_fen type integer")
    assert differences(peer, lake, config.freeze_ds) == [
        "attributed_orders: columns differ, only in Spark's: contribution_fen BIGINT; "
        "only in DuckDB's: contribution_fen INTEGER"
    ]


def test_the_peer_agrees_on_another_campaign_across_the_end_of_daylight_saving_time(
        spark, tmp_path, another_config):
    """Another timezone, calendar, group sizes and client version: the arrival days'
    deadlines, the window's instants and the orders paid in the repeated hour."""
    config = another_config
    lake = ingested_and_attributed(spark, tmp_path, config, ANOTHER_GROUPS,
                                   [ANOTHER_ACCUMULATING, config.freeze_ds])
    con = duckdb.connect()
    for ds in (ANOTHER_ACCUMULATING, config.freeze_ds):
        attribute_duckdb(con, lake, config, ds)
        assert differences(con, lake, ds) == []
    assert count(con, "attributed_orders where first_paid_at >= '{}' and first_paid_at < '{}'"
                 .format(*REPEATED_HOUR_UTC)) > 0
    assert count(con, "group_pools where is_eligible") > 0
