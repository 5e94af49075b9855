"""`grouprebate run`: the real nightly DAG, executed locally date after date.

Everything a run keeps lives under the work directory (Airflow's home and
metadata DB, the lake, the DuckDB warehouse, the exports). One Spark Connect
server serves the whole run and the DAG runs in this one process
(`dag.test()` per date), so no date pays a JVM, an Airflow or a dbt start-up.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grouprebate.calendar import logical_date_of
from grouprebate.config import CampaignConfig, load_config
from grouprebate.local.connect_server import (
    ConnectServer,
    spark_connect_server,
    stop_leftover_servers,
)
from grouprebate.local.locks import workdir_locked
from grouprebate.local.resume import (
    fail_interrupted_runs,
    plan_dates,
    remove_temporary_files,
    succeeded_dates,
)
from grouprebate.local.timings import TIMINGS_FILE, DateResult, busiest_tasks, write_timings
from grouprebate.paths import REPO_ROOT, PathError, RunPaths

DAG_FILE = REPO_ROOT / "dags" / "grouprebate_campaign.py"


class RunFailed(RuntimeError):
    """A calendar date whose DAG run did not succeed."""


def local_shuffle_partitions() -> str:
    """$SPARK_SHUFFLE_PARTITIONS, else one per core: a demo-sized day moves little data
    per shuffle, and every partition is a task with its fixed cost."""
    return os.environ.get("SPARK_SHUFFLE_PARTITIONS", str(os.cpu_count() or 2))


SPARK_CONN_VAR = "AIRFLOW_CONN_SPARK_GROUPREBATE"
MIGRATED_MARKER = ".db-migrated"


def airflow_env(paths: RunPaths, config_file: Path) -> dict[str, str]:
    """Environment for a self-contained local Airflow: its home, DB and the DAG's inputs
    (the Spark connection is added once the server has its port)."""
    home = paths.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("GROUPREBATE_LOG_LEVEL", "WARNING"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "GROUPREBATE_LANDING": str(paths.landing),
        "GROUPREBATE_WORKDIR": str(paths.workdir),
        "GROUPREBATE_CONFIG": str(config_file),
        # Scopes what one run's dbt builds may assume about each other (warehouse.dbt_runner).
        "GROUPREBATE_RUN_ID": uuid.uuid4().hex,
        # A local run fails fast and says why; production keeps its retries and waits.
        "GROUPREBATE_RETRIES": "0",
        "GROUPREBATE_LANDING_TIMEOUT": "1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_SHUFFLE_PARTITIONS": local_shuffle_partitions(),
        # dbt's node lines stay in its log file; the console shows the run's progress
        # and dbt's warnings and errors.
        "DBT_LOG_LEVEL": os.environ.get("DBT_LOG_LEVEL", "warn"),
        "DO_NOT_TRACK": "1",
    }


@contextmanager
def _db_migrating(env: dict[str, str]) -> Iterator[None]:
    """Create Airflow's metadata DB once per work directory, in a subprocess that runs
    while the caller parses the dbt project; the migration is waited for on exit."""
    marker = Path(env["AIRFLOW_HOME"]) / MIGRATED_MARKER
    if marker.exists():
        yield
        return
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    migrating = subprocess.Popen([sys.executable, "-m", "airflow", "db", "migrate"],
                                 env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
    try:
        yield
    finally:
        _, stderr = migrating.communicate()
    if migrating.returncode != 0:
        raise RunFailed(f"airflow db migrate failed:\n{stderr[-2000:]}")
    marker.touch()


@contextmanager
def _owner_only() -> Iterator[None]:
    """Everything the run creates (lake, warehouse, dbt's artefacts with the revealed
    seed, exports, logs), and the Spark server it starts, readable by its owner only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@contextmanager
def _environ_restored() -> Iterator[None]:
    """Leave the caller's environment as it was (Airflow's, and pyspark's Connect mode flag)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _use_airflow_home() -> None:
    """Point an Airflow already imported in this process (e.g. by tests) at the run's DB."""
    if "airflow.settings" not in sys.modules:
        return
    from airflow import settings

    settings.dispose_orm(do_log=False)
    settings.configure_vars()
    settings.configure_orm()


def load_dag():
    """The campaign DAG, loaded from its file as Airflow's DAG processor loads it."""
    spec = importlib.util.spec_from_file_location("grouprebate_campaign_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.campaign_dag


def _progress_listener(on_sigterm: Callable[[int, Any], None]):
    """Airflow listener that prints each task as it starts, and puts the run's SIGTERM
    handler back: Airflow's task runner replaces it at every task with one that only asks
    the task to stop (its supervisor kills the process later; here there is none)."""
    from airflow.listeners import hookimpl

    class Progress:
        @hookimpl
        def on_task_instance_running(self, previous_state, task_instance):
            signal.signal(signal.SIGTERM, on_sigterm)
            print(f"    {task_instance.task_id} …", flush=True)

    return Progress()


def _ended_by_sigterm(server: ConnectServer) -> Callable[[int, Any], None]:
    """A SIGTERM handler that ends the run as a kill would, with its Spark server stopped
    first. A killed run resumes cleanly (docs/reliability.md), and exiting at once is what
    a service manager or `docker stop` expects, rather than waiting for the date to end."""
    def end(signum: int, frame: Any) -> None:
        print("SIGTERM: the run stops here (its Spark server too); start it again with the "
              "same arguments to resume", file=sys.stderr, flush=True)
        server.stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # ends by the signal itself, as its sender expects

    return end


@contextmanager
def _signal_handled(signum: int, handler: Callable[[int, Any], None]) -> Iterator[None]:
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


@contextmanager
def _listening(*listeners) -> Iterator[None]:
    """Airflow listeners registered in this process for the run's DAG runs."""
    from airflow.sdk.listener import get_listener_manager

    manager = get_listener_manager()
    for listener in listeners:
        manager.add_listener(listener)
    try:
        yield
    finally:
        manager.clear()


def _parse_dbt_project(config: CampaignConfig, ds: dt.date, paths: RunPaths) -> None:
    """Parse the dbt project for the run now, while the Spark server's JVM comes up,
    rather than in the first date's build (the parse is kept for every later date)."""
    from grouprebate.warehouse.dbt_runner import build_env, parsed_manifest

    parsed_manifest(config, ds, build_env(paths.lake, paths.warehouse))


def _run_date(dag, config: CampaignConfig, ds: dt.date) -> DateResult:
    """One DAG run for ds, with the logical date the scheduler would give it."""
    started = time.monotonic()
    run = dag.test(logical_date=logical_date_of(ds, config))
    result = DateResult(ds, str(run.state), time.monotonic() - started)
    started_first = sorted(run.get_task_instances(),
                           key=lambda ti: (ti.start_date is None, ti.start_date or 0))
    for ti in started_first:
        seconds = (ti.end_date - ti.start_date).total_seconds() if ti.end_date and ti.start_date \
            else 0.0
        result.tasks[ti.task_id] = (str(ti.state), seconds)
    return result


def _resume_point(paths: RunPaths, config: CampaignConfig, env: dict[str, str],
                  start: dt.date | None, through: dt.date | None,
                  rerun: bool) -> list[dt.date]:
    """Clear what a killed run left behind, then the dates this run must run."""
    for pid in stop_leftover_servers(paths.workdir):
        print(f"stopped the Spark Connect server (pid {pid}) a killed run left running",
              flush=True)
    for path in remove_temporary_files(paths):
        print(f"removed {path}, left half-written by a killed run", flush=True)
    succeeded: set[dt.date] = set()
    if (Path(env["AIRFLOW_HOME"]) / MIGRATED_MARKER).exists():
        _use_airflow_home()
        for ds in fail_interrupted_runs(config):
            print(f"ds={ds}: its DAG run was interrupted; marked failed", flush=True)
        succeeded = succeeded_dates(config)
    dates, skipped = plan_dates(config.calendar(), succeeded, start=start, through=through,
                                rerun=rerun)
    if skipped:
        print(f"skipping {len(skipped)} dates that already succeeded: {skipped[0]} to "
              f"{skipped[-1]} (--rerun runs them again)", flush=True)
    return dates


def run_campaign(landing: Path, config_file: Path, workdir: Path,
                 through: dt.date | None = None,
                 start: dt.date | None = None,
                 rerun: bool = False) -> list[DateResult]:
    """Run the calendar dates from `start` through `through`, in order; stop at a failure.

    Without `start` the run resumes: it skips the dates up to the first one whose DAG
    run has not succeeded (plan_dates); `rerun` runs them all. Dates before `start` are
    expected to have run already (a re-run of one date is start = through = that date).
    Only one run at a time may use a work directory (workdir_locked).
    """
    from grouprebate.local.run_session import RunSession

    config = load_config(config_file)
    try:
        paths = RunPaths.checked(landing, workdir)
    except PathError as exc:
        raise RunFailed(str(exc)) from None
    if not [d for d in config.calendar()
            if (through is None or d <= through) and (start is None or d >= start)]:
        raise RunFailed(f"no calendar date between {start} and {through} "
                        f"(the calendar is {config.calendar_start} to {config.calendar_end})")
    results: list[DateResult] = []
    with _environ_restored(), _owner_only(), workdir_locked(paths.workdir):
        paths.workdir.chmod(0o700)  # a work directory made before: nobody else may enter
        env = airflow_env(paths, config_file.resolve())
        os.environ.update(env)
        dates = _resume_point(paths, config, env, start, through, rerun)
        if not dates:
            print("nothing to run", flush=True)
            return results
        with spark_connect_server(paths.workdir) as server:
            os.environ[SPARK_CONN_VAR] = json.dumps(server.conn)
            with _db_migrating(env):
                _parse_dbt_project(config, dates[0], paths)
            _use_airflow_home()
            dag = load_dag()
            server.wait_ready()
            on_sigterm = _ended_by_sigterm(server)
            with RunSession(server.remote) as session, \
                    _signal_handled(signal.SIGTERM, on_sigterm), \
                    _listening(_progress_listener(on_sigterm), session.listener):
                for i, ds in enumerate(dates, 1):
                    print(f"[{i}/{len(dates)}] ds={ds}", flush=True)
                    result = _run_date(dag, config, ds)
                    results.append(result)
                    write_timings(paths.workdir / TIMINGS_FILE, results)
                    print(f"    {result.breakdown()}", flush=True)
                    if result.state != "success":
                        failed = [t for t, (s, _) in result.tasks.items() if s == "failed"]
                        raise RunFailed(
                            f"ds={ds} failed at {', '.join(failed) or 'an unknown task'}; "
                            f"logs under {paths.airflow_home / 'logs'}; fix the cause and "
                            f"run again: it resumes at {ds} (dates before it are kept)"
                        )
    return results


def quality_counts(lake: Path) -> str:
    """Every gate's results of every date, read from the files the gates write (the last
    date's marts and exports gates run after its build, so the mart does not hold them)."""
    import duckdb

    files = sorted(lake.glob("dq_results/ds=*/*.parquet"))
    if not files:
        return "no expectations run"
    checks, failed, warned = duckdb.execute(
        "select count(*), count(*) filter (where not success and severity = 'critical'), "
        "count(*) filter (where not success and severity <> 'critical') "
        "from read_parquet(?)", [[str(f) for f in files]]).fetchone()
    return f"{checks} expectations run, {failed} failed, {warned} warnings"


def summarize(workdir: Path, results: list[DateResult]) -> str:
    """The closing lines of a run: money totals from the marts and where the files are."""
    from expectations.context import data_docs_dir
    from grouprebate.warehouse.marts import warehouse_query, warehouse_target

    paths = RunPaths(Path("."), workdir.resolve())
    lines = [f"ran {len(results)} dates in {sum(r.seconds for r in results):.0f}s",
             "time by task: " + ", ".join(f"{t} {s:.0f}s" for t, s in busiest_tasks(results))]
    if paths.warehouse.exists() or warehouse_target() == "postgres":
        query = warehouse_query(paths.warehouse)
        winners, packets = query(
            "select count(*), coalesce(sum(red_packet_fen), 0) from marts.winner_list", [])[0]
        payouts, paid = query(
            "select count(*), coalesce(sum(amount_fen), 0) from marts.payouts", [])[0]
        forfeits, forfeited = query(
            "select count(*), coalesce(sum(amount_fen), 0) from marts.forfeitures", [])[0]
        lines += [
            f"quality: {quality_counts(paths.lake)} "
            f"(Data Docs: {data_docs_dir(paths.workdir) / 'index.html'})",
            f"winners: {winners} groups, red packets {packets / 100:,.2f} CNY ({packets} fen)",
            f"payouts: {payouts}, {paid / 100:,.2f} CNY ({paid} fen)",
            f"forfeitures: {forfeits}, {forfeited / 100:,.2f} CNY ({forfeited} fen)",
        ]
    lines += [
        f"warehouse: {paths.warehouse if warehouse_target() == 'duckdb' else 'Postgres'}",
        f"exports:   {paths.exports} (payouts/, draw/, public/)",
        f"lake:      {paths.lake}",
        f"timings:   {paths.workdir / TIMINGS_FILE} (every task of every date)",
    ]
    return "\n".join(lines)
