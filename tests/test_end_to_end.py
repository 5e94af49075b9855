"""End to end: `grouprebate run` drives the real DAG over a short generated campaign.

The short campaign (tests/fixtures/short-campaign.yaml) keeps the 2018 rules on
a 7-date calendar, so every phase runs: standings, the freeze and draw, the
publication, claims and payout files. One module-scoped run serves all tests.
The command runs in its own process, as a person would type it, so it shares
no Spark or Airflow state with the other tests.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from grouprebate.config import load_config
from grouprebate.demo.generator import generate
from tests.test_dbt_marts import CONTRACT

CONFIG = Path(__file__).parent / "fixtures" / "short-campaign.yaml"
PUBLISH = dt.date(2018, 11, 13)

pytestmark = pytest.mark.e2e


def marts_snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse)) as con:
        return {name: sorted(map(repr, con.execute(f"select * from marts.{name}").fetchall()))
                for name in CONTRACT}


def exports_snapshot(exports: Path) -> dict[str, str]:
    return {str(p.relative_to(exports)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(exports.rglob("*")) if p.is_file()}


def run_campaign(root: Path, *dates: str) -> str:
    """`grouprebate run` over the short campaign; returns its output, fails with its tail."""
    command = [sys.executable, "-m", "grouprebate.cli", "run", "--landing", str(root / "landing"),
               "--config", str(CONFIG), "--workdir", str(root / "work"), *dates]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "AIRFLOW"))}
    env["GROUPREBATE_PSEUDONYM_KEY"] = "e2e-key"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    config = load_config(CONFIG)
    generate(root / "landing", groups=60, seed=11, config=config)
    workdir = root / "work"
    first = run_campaign(root, "--through", str(PUBLISH))
    as_of_publish = marts_snapshot(workdir / "warehouse.duckdb")
    rest = run_campaign(root, "--from", str(PUBLISH + dt.timedelta(1)))
    return {"root": root, "workdir": workdir, "config": config, "output": first + rest,
            "as_of_publish": as_of_publish,
            "final": marts_snapshot(workdir / "warehouse.duckdb"),
            "exports": exports_snapshot(workdir / "exports")}


def query(campaign, sql: str) -> list[tuple]:
    with duckdb.connect(str(campaign["workdir"] / "warehouse.duckdb")) as con:
        return con.execute(sql).fetchall()


def test_every_calendar_date_ran_successfully(campaign):
    dates = campaign["config"].calendar()
    output = campaign["output"]
    assert output.count("success in") == len(dates)
    assert f"ds={campaign['config'].calendar_end}" in output
    assert "winners:" in output and "payouts:" in output


def test_the_timings_file_covers_every_task_of_the_last_invocation(campaign):
    with (campaign["workdir"] / "run-timings.csv").open(newline="") as rows:
        timings = list(csv.DictReader(rows))
    later = [d for d in campaign["config"].calendar() if d > PUBLISH]
    assert sorted({row["ds"] for row in timings}) == [d.isoformat() for d in later]
    for ds in later:
        ran = {row["task"]: row for row in timings if row["ds"] == ds.isoformat()}
        assert {"ingest_landing", "attribute_orders", "build_marts", "export_payouts"} <= set(ran)
        assert all(row["state"] in ("success", "skipped") for row in ran.values())
        assert sum(float(r["task_seconds"]) for r in ran.values()) <= float(
            ran["build_marts"]["dag_run_seconds"])


def test_contract_marts_have_their_columns(campaign):
    for table, columns in CONTRACT.items():
        got = [c for (c,) in query(campaign, f"select column_name from information_schema.columns "
                                             f"where table_schema = 'marts' and table_name = "
                                             f"'{table}'")]
        assert set(columns) <= set(got), (table, set(columns) - set(got))


def test_money_invariants_hold(campaign):
    config = campaign["config"]
    winners = query(campaign, "select group_id, pool_fen, red_packet_fen from marts.winner_list")
    assert 0 < len(winners) <= config.draw_winner_count
    for _group_id, pool, packet in winners:
        assert packet == min(pool, config.red_packet_cap_fen)
    split_sums = dict(query(campaign, "select group_id, sum(split_fen) from marts.member_splits "
                                      "group by all"))
    packets = {g: p for g, _, p in winners}
    for group_id, total in split_sums.items():
        assert total == packets[group_id]
    paid_twice = query(campaign, "select group_id, user_id from marts.payouts group by all "
                                 "having count(*) > 1")
    assert paid_twice == []
    unsplit = query(campaign, "select p.payout_id from marts.payouts p left join "
                              "marts.member_splits s using (group_id, user_id) "
                              "where s.split_fen is null or s.split_fen <> p.amount_fen")
    assert unsplit == []


def test_payout_files_reconcile_with_the_marts_to_the_fen(campaign):
    folder = campaign["workdir"] / "exports" / "payouts"
    per_day = dict(query(campaign, "select export_ds, sum(amount_fen) from marts.payouts "
                                   "group by all"))
    files = sorted(folder.glob("*.csv"))
    assert len(files) == sum(1 for d in campaign["config"].calendar()
                             if d >= campaign["config"].freeze_ds)
    seen: set[str] = set()
    for path in files:
        control = json.loads(path.with_name(path.name + ".control.json").read_text())
        rows = list(csv.DictReader(path.open()))
        assert control["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert control["row_count"] == len(rows)
        assert control["total_fen"] == sum(int(r["amount_fen"]) for r in rows)
        ds = dt.date.fromisoformat(control["export_ds"])
        assert control["total_fen"] == per_day.get(ds, 0)
        ids = {r["payout_id"] for r in rows}
        assert not ids & seen
        seen |= ids
    assert seen, "the campaign paid nobody"


def test_public_winner_list_shows_no_group_or_user_ids(campaign):
    path = campaign["workdir"] / "exports" / "public" / "winner_list_test-short.json"
    text = path.read_text()
    ids = [g for (g,) in query(campaign, "select group_id from marts.winner_list")]
    users = [u for (u,) in query(campaign, "select user_id from marts.member_splits")]
    assert not [x for x in ids + users if x in text]
    assert json.loads(text)["winner_count"] == len(ids)


def test_rerunning_one_date_reproduces_its_marts_and_keeps_the_exports(campaign):
    root, workdir = campaign["root"], campaign["workdir"]
    run_campaign(root, "--from", str(PUBLISH), "--through", str(PUBLISH))
    assert marts_snapshot(workdir / "warehouse.duckdb") == campaign["as_of_publish"]
    assert exports_snapshot(workdir / "exports") == campaign["exports"]


def test_rerunning_the_whole_calendar_gives_identical_marts_and_exports(campaign):
    root, workdir = campaign["root"], campaign["workdir"]
    run_campaign(root)
    assert marts_snapshot(workdir / "warehouse.duckdb") == campaign["final"]
    assert exports_snapshot(workdir / "exports") == campaign["exports"]
