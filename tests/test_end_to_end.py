"""End to end: `grouprebate run` drives the real DAG over a short generated campaign.

The short campaign (tests/fixtures/short-campaign.yaml) keeps the 2018 rules on
a 7-date calendar, so every phase runs: standings, the freeze and draw, the
publication, claims and payout files. One run per test session (the `campaign`
fixture, tests/e2e_campaign.py) serves these tests and the other modules that check
a whole run's outputs.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.e2e_campaign import (
    PUBLISH,
    exports_snapshot,
    marts_snapshot,
    run_campaign,
    run_command,
)
from tests.test_dbt_marts import CONTRACT

pytestmark = pytest.mark.e2e


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
    """Every export date has its batches, each control record is its file's recomputed
    count, sum and digest, the dates' totals are the marts', and no payout is in two
    files across the calendar, however many batches a date was split into (7 rows)."""
    folder = campaign["workdir"] / "exports" / "payouts"
    per_day = dict(query(campaign, "select export_ds, sum(amount_fen) from marts.payouts "
                                   "group by all"))
    export_dates = [d for d in campaign["config"].calendar() if d >= campaign["config"].freeze_ds]
    files = sorted(folder.glob("*.csv"))
    controls = [json.loads(path.with_name(path.name + ".control.json").read_text())
                for path in files]
    assert sorted({c["export_ds"] for c in controls}) == [d.isoformat() for d in export_dates]
    seen: set[str] = set()
    day_totals: dict[str, int] = {}
    for path, control in zip(files, controls, strict=True):
        rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
        assert control["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert control["bytes"] == path.stat().st_size
        assert control["row_count"] == len(rows) <= 7
        assert control["total_fen"] == sum(int(r["amount_fen"]) for r in rows)
        assert control["file"] == path.name == f"payouts_{control['batch_id']}.csv"
        day_totals[control["export_ds"]] = day_totals.get(control["export_ds"], 0) + \
            control["total_fen"]
        ids = {r["payout_id"] for r in rows}
        assert len(ids) == len(rows) and not ids & seen
        seen |= ids
    assert day_totals == {d.isoformat(): per_day.get(d, 0) for d in export_dates}
    assert seen == {p for (p,) in query(campaign, "select payout_id from marts.payouts")}
    assert max(c["batch_count"] for c in controls) > 1, "no date was split into batches"
    assert query(campaign, "select count(*) from marts.payout_reconciliation "
                           "where not is_balanced") == [(0,)]


def test_every_dates_batches_validate_with_frictionless(campaign):
    """finance's own check: `frictionless validate` on each date's data package."""
    folder = campaign["workdir"] / "exports" / "payouts"
    packages = sorted(folder.glob("*.datapackage.json"))
    assert len(packages) == sum(1 for d in campaign["config"].calendar()
                                if d >= campaign["config"].freeze_ds)
    frictionless = Path(sys.executable).with_name("frictionless")
    for package in packages:
        done = subprocess.run([str(frictionless), "validate", "--json", package.name],
                              cwd=folder, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert json.loads(done.stdout)["valid"] is True


def test_rerunning_the_export_of_every_date_gives_the_same_bytes(campaign, tmp_path):
    """Each date's batches, staged again from the warehouse, are the published bytes, and
    publishing them again changes nothing (write-once)."""
    from grouprebate.publish.payouts import publish_payouts, stage_payouts
    from grouprebate.warehouse.marts import duckdb_query

    config, exports = campaign["config"], campaign["workdir"] / "exports"
    marts = duckdb_query(campaign["workdir"] / "warehouse.duckdb")
    before = exports_snapshot(exports)
    for ds in (d for d in config.calendar() if d >= config.freeze_ds):
        staged = stage_payouts(marts, config, ds, tmp_path, exports)
        for name in [staged["package"], *(c["file"] for c in staged["batches"])]:
            assert (tmp_path / "payouts" / name).read_bytes() == \
                (exports / "payouts" / name).read_bytes(), name
        publish_payouts(tmp_path, config, ds, exports)
    assert exports_snapshot(exports) == before


def test_the_ledger_closes_to_the_fen_at_the_end_of_the_calendar(campaign):
    """Per winning group: red packet = what the files paid + what was forfeited, and the
    ledger names the batch file each payout is really in."""
    folder = campaign["workdir"] / "exports" / "payouts"
    in_file = {r["payout_id"]: (path.name, int(r["amount_fen"]), r["group_id"])
               for path in folder.glob("*.csv")
               for r in csv.DictReader(path.open(newline="", encoding="utf-8"))}
    ledger = dict(query(campaign, "select payout_id, file_name from marts.payout_ledger "
                                  "where entry_type = 'payout_exported'"))
    assert ledger == {p: f for p, (f, _, _) in in_file.items()}
    forfeited = dict(query(campaign, "select group_id, sum(amount_fen) from marts.forfeitures "
                                     "group by all"))
    packets = dict(query(campaign, "select group_id, red_packet_fen from marts.winner_list"))
    paid = {g: sum(a for _, a, pg in in_file.values() if pg == g) for g in packets}
    assert packets == {g: paid[g] + forfeited.get(g, 0) for g in packets}
    assert query(campaign, "select count(*), count(*) filter (where is_closed and is_final) "
                           "from marts.red_packet_balances") == [(len(packets), len(packets))]


def test_public_winner_list_shows_no_group_or_user_ids(campaign):
    path = campaign["workdir"] / "exports" / "public" / "winner_list_test-short.json"
    text = path.read_text()
    ids = [g for (g,) in query(campaign, "select group_id from marts.winner_list")]
    users = [u for (u,) in query(campaign, "select user_id from marts.member_splits")]
    assert not [x for x in ids + users if x in text]
    assert json.loads(text)["winner_count"] == len(ids)


def test_what_the_run_wrote_is_readable_by_its_owner_only(campaign):
    """The seed is in dbt's artefacts after the draw, money in the marts, lake and files."""
    workdir = campaign["workdir"]
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    written = [p for p in workdir.rglob("*") if not p.is_symlink()]
    for folder in ("lake", "exports", "dbt"):
        assert any(p.is_relative_to(workdir / folder) for p in written), folder
    opened = [str(p.relative_to(workdir)) for p in written if p.stat().st_mode & 0o077]
    assert opened == []


def test_rerunning_one_date_reproduces_its_marts_and_keeps_the_exports(campaign):
    root, workdir = campaign["root"], campaign["workdir"]
    run_campaign(root, "--from", str(PUBLISH), "--through", str(PUBLISH))
    assert marts_snapshot(workdir / "warehouse.duckdb") == campaign["as_of_publish"]
    assert exports_snapshot(workdir / "exports") == campaign["exports"]


def test_rerunning_the_whole_calendar_gives_identical_marts_and_exports(campaign):
    root, workdir = campaign["root"], campaign["workdir"]
    run_campaign(root, "--rerun")
    assert marts_snapshot(workdir / "warehouse.duckdb") == campaign["final"]
    assert exports_snapshot(workdir / "exports") == campaign["exports"]


class Watched:
    """`grouprebate run` in its own process group, its output read as it comes."""

    def __init__(self, landing: Path, workdir: Path) -> None:
        command, env = run_command(landing, workdir)
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.pgid = self.proc.pid
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def wait_for(self, *steps: str, timeout: float = 600) -> None:
        """Until lines containing each step, in order, have been printed."""
        deadline = time.monotonic() + timeout
        for step in steps:
            while True:
                line = self._new.get(timeout=max(deadline - time.monotonic(), 0.1))
                assert line is not None, f"the run ended before {step!r}:\n{self.output()}"
                if step in line:
                    break

    def output(self) -> str:
        return "".join(self.lines)[-4000:]

    def all_output(self, timeout: float = 30) -> str:
        """Everything the run printed, once it has ended."""
        while self._new.get(timeout=timeout) is not None:
            pass
        return "".join(self.lines)


def wait_for_dbt(workdir: Path, event: str, timeout: float = 300) -> None:
    """Until the build under way logs the event: some marts rebuilt, others not yet."""
    log = workdir / "dbt" / "logs" / "dbt.log"
    start = log.stat().st_size if log.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists():
            with log.open() as text:
                text.seek(start)
                if event in text.read():
                    return
        time.sleep(0.05)
    raise AssertionError(f"dbt never logged {event!r}")


def spark_server_pids(workdir: Path) -> list[int]:
    return [int(p.read_text()) for p in (workdir / "spark-logs").glob("*.pid")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_run_killed_twice_and_restarted_gives_the_uninterrupted_marts_and_exports(
        campaign, tmp_path):
    """kill -9 of the run alone (its Spark server survives) during the freeze date's
    attribution, then of the whole process group during a later date's dbt build, then a
    SIGTERM (which stops the run and its server at once); each restart, with the same
    arguments, resumes at the interrupted date."""
    landing, workdir = campaign["root"] / "landing", tmp_path / "work"
    freeze = campaign["config"].freeze_ds
    groups: list[int] = []
    try:
        first = Watched(landing, workdir)
        groups.append(first.pgid)
        first.wait_for(f"ds={freeze}", "attribute_orders …")
        time.sleep(2)
        os.kill(first.proc.pid, signal.SIGKILL)  # as the OOM killer would: the JVM lives on
        first.proc.wait()
        orphans = [pid for pid in spark_server_pids(workdir) if alive(pid)]
        assert orphans, "the killed run's Spark Connect server should outlive it"

        second = Watched(landing, workdir)
        groups.append(second.pgid)
        second.wait_for(f"ds={PUBLISH + dt.timedelta(1)}", "build_marts …")
        wait_for_dbt(workdir, "OK created sql table model marts.payouts")
        os.killpg(second.pgid, signal.SIGKILL)
        second.proc.wait()
        restarted = second.all_output()
        if "check_marts" not in restarted.split(f"ds={PUBLISH + dt.timedelta(1)}")[-1]:
            # killed inside the build: analysts see the last whole build, not a mix
            assert marts_snapshot(workdir / "warehouse.duckdb") == campaign["as_of_publish"]

        third = Watched(landing, workdir)  # stopped as a service manager stops it
        groups.append(third.pgid)
        third.wait_for(f"ds={PUBLISH + dt.timedelta(1)}", "ingest_landing …")
        third.proc.send_signal(signal.SIGTERM)
        assert third.proc.wait(timeout=120) == -signal.SIGTERM
        assert "SIGTERM: the run stops here" in third.all_output()
        assert not [pid for pid in spark_server_pids(workdir) if alive(pid)]

        final = run_command(landing, workdir)
        done = subprocess.run(final[0], env=final[1], capture_output=True, text=True,
                              timeout=1800)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    finally:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    assert "stopped the Spark Connect server" in restarted
    assert not any(alive(pid) for pid in orphans)
    assert f"ds={freeze}: its DAG run was interrupted" in restarted
    calendar = campaign["config"].calendar()
    assert f"skipping 3 dates that already succeeded: {calendar[0]} to {calendar[2]}" \
        in restarted
    assert f"[1/{len(calendar) - 3}] ds={freeze}" in restarted
    assert f"skipping 5 dates that already succeeded: {calendar[0]} to {PUBLISH}" \
        in done.stdout
    assert f"[1/2] ds={PUBLISH + dt.timedelta(1)}" in done.stdout
    assert marts_snapshot(workdir / "warehouse.duckdb") == campaign["final"]
    assert exports_snapshot(workdir / "exports") == campaign["exports"]
