"""A run picks up where a killed one stopped, and clears what the killed one left.

The whole story, with a real `kill -9`, is tests/test_end_to_end.py's kill test; these
pin each piece without starting Spark or Airflow.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from grouprebate.config import load_config
from grouprebate.local.connect_server import WORKDIR_CONF, stop_leftover_servers
from grouprebate.local.resume import plan_dates, remove_temporary_files
from grouprebate.paths import RunPaths
from grouprebate.warehouse import WarehouseError, dbt_runner

SHORT = Path(__file__).parent / "fixtures" / "short-campaign.yaml"
CALENDAR = [dt.date(2018, 11, 9) + dt.timedelta(days=i) for i in range(7)]
PID_FILE = "spark-grouprebate-{}-org.apache.spark.sql.connect.service.SparkConnectServer-1.pid"


def test_a_restart_skips_the_dates_that_succeeded_and_starts_at_the_first_that_did_not():
    succeeded = {CALENDAR[0], CALENDAR[1], CALENDAR[2], CALENDAR[4]}
    dates, skipped = plan_dates(CALENDAR, succeeded)
    assert skipped == CALENDAR[:3]
    assert dates == CALENDAR[3:]  # the 5th ran after a date that must now run again


def test_rerun_and_an_explicit_range_run_dates_that_succeeded():
    assert plan_dates(CALENDAR, set(CALENDAR), rerun=True) == (CALENDAR, [])
    assert plan_dates(CALENDAR, set(CALENDAR), start=CALENDAR[2], through=CALENDAR[3]) \
        == (CALENDAR[2:4], [])
    assert plan_dates(CALENDAR, set(CALENDAR[:2]), through=CALENDAR[3]) \
        == (CALENDAR[2:4], CALENDAR[:2])
    assert plan_dates(CALENDAR, set(CALENDAR)) == ([], CALENDAR)


def fake_server(workdir: Path, port: int) -> subprocess.Popen:
    """A process that looks like the Spark Connect server of `workdir` to the clean-up."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "--conf",
                             f"{WORKDIR_CONF}={workdir.resolve()}"])
    logs = workdir / "spark-logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / PID_FILE.format(port)).write_text(f"{proc.pid}\n")
    return proc


def test_a_killed_runs_server_is_stopped_and_no_other_work_directorys(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    left = fake_server(ours, 15002)
    other = fake_server(theirs, 15003)
    # a stale pid file whose pid now belongs to another work directory's server
    (ours / "spark-logs" / PID_FILE.format(15004)).write_text(f"{other.pid}\n")
    try:
        assert stop_leftover_servers(ours) == [left.pid]
        assert left.wait(timeout=10) is not None
        time.sleep(0.2)
        assert other.poll() is None
        assert list((ours / "spark-logs").glob("*.pid")) == []
    finally:
        for proc in (left, other):
            proc.kill()
            proc.wait()


def test_the_half_written_files_of_a_killed_run_are_removed_and_nothing_else(tmp_path):
    paths = RunPaths(tmp_path / "landing", tmp_path / "work")
    kept = [paths.lake / "orders" / "ds=2018-11-09" / "part-0.parquet",
            paths.exports / "payouts" / "payouts_2018-11-12.csv"]
    left = [paths.lake / "orders" / "ds=2018-11-10" / "_temporary" / "0" / "part-0.parquet",
            paths.exports / "payouts" / ".payouts_2018-11-13.csv.tmp",
            paths.lake / "dq_results" / "ds=2018-11-10" / "marts.parquet.tmp",
            dbt_runner.building_dir(paths.warehouse) / "warehouse.duckdb.wal"]
    for path in kept + left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    removed = remove_temporary_files(paths)
    assert all(p.exists() for p in kept)
    assert not any(p.exists() for p in left)
    assert len(removed) == 4


def marts_value(warehouse: Path) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select v from marts.m").fetchone()[0]


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A warehouse built as of one date, and a dbt that rewrites it as of the next."""
    path = tmp_path / "work" / "warehouse.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.m as select 'as of the 11th' as v")
        con.execute("create table marts.n as select 'as of the 11th' as v")
    seen_during_build = []

    def fake_dbt(args, env, check=True, manifest=None):
        with duckdb.connect(env["GROUPREBATE_WAREHOUSE"]) as con:
            con.execute("create or replace table marts.m as select 'as of the 12th' as v")
        seen_during_build.append(marts_value(path))
        if env.get("FAIL_HALFWAY"):  # a model failed, or the run was killed, before marts.n
            raise WarehouseError("dbt build failed: n")
        with duckdb.connect(env["GROUPREBATE_WAREHOUSE"]) as con:
            con.execute("create or replace table marts.n as select 'as of the 12th' as v")
        return None

    monkeypatch.setattr(dbt_runner, "run_dbt", fake_dbt)
    return path, seen_during_build


def test_readers_never_see_a_half_built_warehouse(warehouse, tmp_path, monkeypatch):
    path, seen_during_build = warehouse
    config = load_config(SHORT)
    monkeypatch.setattr(dbt_runner, "dbt_env", lambda lake, wh, *a, **k: {
        "GROUPREBATE_WAREHOUSE": str(wh), "FAIL_HALFWAY": "1"})
    with pytest.raises(WarehouseError):
        dbt_runner.build(config, CALENDAR[3], tmp_path / "lake", warehouse=path, manifest="m")
    assert seen_during_build == ["as of the 11th"]
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select distinct v from (from marts.m union all from marts.n)"
                           ).fetchall() == [("as of the 11th",)]
    assert not dbt_runner.building_dir(path).exists()

    monkeypatch.setattr(dbt_runner, "dbt_env", lambda lake, wh, *a, **k: {
        "GROUPREBATE_WAREHOUSE": str(wh)})
    dbt_runner.build(config, CALENDAR[3], tmp_path / "lake", warehouse=path, manifest="m")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select distinct v from (from marts.m union all from marts.n)"
                           ).fetchall() == [("as of the 12th",)]
