"""`grouprebate run`: the real nightly DAG, executed locally date after date.

Everything a run keeps lives under the work directory (Airflow's home and
metadata DB, the lake, the DuckDB warehouse, the exports). One Spark Connect
server serves the whole run and the DAG runs in this one process
(`dag.test()` per date), so no date pays a JVM, an Airflow or a dbt start-up.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from grouprebate.config import CampaignConfig, load_config
from grouprebate.paths import REPO_ROOT, RunPaths

DAG_FILE = REPO_ROOT / "dags" / "grouprebate_campaign.py"
DAG_ID = "grouprebate_campaign"
CONNECT_PORT = int(os.environ.get("GROUPREBATE_CONNECT_PORT", "15002"))


class RunFailed(RuntimeError):
    """A calendar date whose DAG run did not succeed."""


@dataclass
class DateResult:
    ds: dt.date
    state: str
    seconds: float
    tasks: dict[str, tuple[str, float]] = field(default_factory=dict)  # in start order

    def breakdown(self) -> str:
        """The date's closing line: its time, and each task's that took half a second or more."""
        timed = [(t, s) for t, (_, s) in self.tasks.items() if s >= 0.5]
        rest = self.seconds - sum(s for _, s in timed)
        parts = [f"{t} {s:.1f}s" for t, s in timed] + [f"other {rest:.1f}s"]
        return f"{self.state} in {self.seconds:.1f}s ({', '.join(parts)})"


TIMINGS_FILE = "run-timings.csv"


def write_timings(path: Path, results: list[DateResult]) -> None:
    """One row per task instance of the dates run so far: where each date's time went."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ds", "dag_run_seconds", "task", "state", "task_seconds"])
        for result in results:
            for task_id, (state, seconds) in result.tasks.items():
                writer.writerow([result.ds.isoformat(), f"{result.seconds:.2f}", task_id, state,
                                 f"{seconds:.2f}"])


def local_shuffle_partitions() -> str:
    """$SPARK_SHUFFLE_PARTITIONS, else one per core: a demo-sized day moves little data
    per shuffle, and every partition is a task with its fixed cost."""
    return os.environ.get("SPARK_SHUFFLE_PARTITIONS", str(os.cpu_count() or 2))


def airflow_env(paths: RunPaths, config_file: Path, spark_conn: dict) -> dict[str, str]:
    """Environment for a self-contained local Airflow: its home, DB and the DAG's inputs."""
    home = paths.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("GROUPREBATE_LOG_LEVEL", "WARNING"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_SPARK_GROUPREBATE": json.dumps(spark_conn),
        "GROUPREBATE_LANDING": str(paths.landing),
        "GROUPREBATE_WORKDIR": str(paths.workdir),
        "GROUPREBATE_CONFIG": str(config_file),
        # Scopes what one run's dbt builds may assume about each other (warehouse.build).
        "GROUPREBATE_RUN_ID": uuid.uuid4().hex,
        # A local run fails fast and says why; production keeps its retries and waits.
        "GROUPREBATE_RETRIES": "0",
        "GROUPREBATE_LANDING_TIMEOUT": "1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_SHUFFLE_PARTITIONS": local_shuffle_partitions(),
        # dbt's node lines stay in dbt/logs/dbt.log; the console shows the run's progress
        # and dbt's warnings and errors.
        "DBT_LOG_LEVEL": os.environ.get("DBT_LOG_LEVEL", "warn"),
        "DO_NOT_TRACK": "1",
    }


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ConnectServer:
    """A Spark Connect server being started: its Airflow connection, usable once ready."""

    port: int
    starting: subprocess.Popen
    logs: Path

    host = "sc://127.0.0.1"

    @property
    def remote(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def conn(self) -> dict:
        return {"conn_type": "spark_connect", "host": self.host, "port": self.port}

    def wait_ready(self, timeout: float = 120) -> None:
        """Block until the server accepts connections; the caller sets up meanwhile."""
        _, stderr = self.starting.communicate()
        if self.starting.returncode != 0:
            raise RunFailed(f"Spark Connect failed to start: {stderr.strip()[-1000:]}")
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if time.monotonic() > deadline:
                raise RunFailed(f"Spark Connect did not start on port {self.port}; "
                                f"see {self.logs}")
            time.sleep(0.2)


@contextmanager
def spark_connect_server(workdir: Path, port: int = CONNECT_PORT) -> Iterator[ConnectServer]:
    """A local Spark Connect server for the whole run, stopped on exit.

    It is only being started when this yields: its JVM comes up (about 5 s) while the
    caller prepares Airflow; call wait_ready() before the first Spark task.
    """
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    logs = workdir / "spark-logs"
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOG_DIR": str(logs),
           "SPARK_PID_DIR": str(logs), "PYSPARK_PYTHON": sys.executable,
           "SPARK_IDENT_STRING": f"grouprebate-{port}"}
    if _port_open(port):
        raise RunFailed(f"port {port} is taken; set GROUPREBATE_CONNECT_PORT to a free port")
    conf = {
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "4g"),
        # Local runs move little data per query: generating Java for whole stages and
        # JIT-compiling it costs more CPU than it saves. Expressions (sort orderings,
        # projections) are still compiled, into a cache large enough for a run's plans:
        # later dates reuse what does not inline a date literal (filters on ds do).
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.cache.maxEntries": "10000",
        # Adaptive execution re-plans each query after every stage and runs each stage
        # as a job of its own: fixed work per query that a demo day's data never repays.
        "spark.sql.adaptive.enabled": "false",
        # A lake table has one folder per date; past 32 of them Spark lists the folders
        # with a distributed job, which on a local disk took 1.3-2 s where listing them
        # in the driver took 0.15 s (nine sources of a 35-date lake).
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
        # A date writes about 20 small partitions: no checksum file beside each file
        # (a local lake is rewritten by any re-run, and Parquet pages carry checksums)
        # and no _SUCCESS marker, which nothing reads (a reader lists ds folders).
        "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        # One long-lived server running many small queries: the throughput collector
        # spends less CPU than G1's concurrent marking on two cores. The JIT compiler
        # threads took about half of its CPU, compiling the many lukewarm methods of
        # Spark's planner and scheduler: only code run ten times more often than the
        # default threshold gets the optimizing compiler (10% less server CPU).
        "spark.driver.extraJavaOptions": " ".join([
            "-XX:+UseParallelGC",
            "-XX:Tier4InvocationThreshold=50000", "-XX:Tier4MinInvocationThreshold=20000",
            "-XX:Tier4CompileThreshold=60000", "-XX:Tier4BackEdgeThreshold=400000",
        ]),
    }
    args = [str(spark_home / "sbin" / "start-connect-server.sh")]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    starting = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    try:
        yield ConnectServer(port, starting, logs)
    finally:
        if starting.returncode is None:  # wait_ready() was not reached
            starting.communicate()
        subprocess.run([str(spark_home / "sbin" / "stop-connect-server.sh")], env=env,
                       capture_output=True)
        deadline = time.monotonic() + 60  # the script returns before the JVM has exited
        while _port_open(port) and time.monotonic() < deadline:
            time.sleep(0.5)


@contextmanager
def _db_migrating(env: dict[str, str]) -> Iterator[None]:
    """Create Airflow's metadata DB once per work directory, in a subprocess that runs
    while the caller parses the dbt project; the migration is waited for on exit."""
    marker = Path(env["AIRFLOW_HOME"]) / ".db-migrated"
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


@contextmanager
def _no_full_collections() -> Iterator[None]:
    """Python's garbage collector without its full collections while the dates run.

    A full collection walks every live object of the process, and a run holds many:
    Airflow, the DAG and dbt's manifest. It ran about 15 times in 17 dates at 0.35 s
    each; a date's garbage is short-lived and goes in the young collections, which
    run less often here too. Restored on exit: tests run dates in their own process.
    """
    saved = gc.get_threshold()
    # Young collections after 10,000 net allocations (700 by default), a full one only
    # after 100 of the middle ones, which a run does not reach.
    gc.set_threshold(10_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _load_dag():
    spec = importlib.util.spec_from_file_location("grouprebate_campaign_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.campaign_dag


def _progress_listener():
    """Airflow listener that prints each task as it starts."""
    from airflow.sdk._shared.listeners import hookimpl

    class Progress:
        @hookimpl
        def on_task_instance_running(self, previous_state, task_instance):
            print(f"    {task_instance.task_id} …", flush=True)

    return Progress()


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
    from grouprebate.warehouse import dbt_env, parsed_manifest

    parsed_manifest(config, ds, dbt_env(paths.lake, paths.warehouse))


def _run_date(dag, config: CampaignConfig, ds: dt.date) -> DateResult:
    """One DAG run for ds, with the logical date the scheduler would give it."""
    from grouprebate.calendar import logical_date_of

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


def run_campaign(landing: Path, config_file: Path, workdir: Path,
                 through: dt.date | None = None,
                 start: dt.date | None = None) -> list[DateResult]:
    """Run the calendar dates from `start` through `through`, in order; stop at a failure.

    Dates run before `start` are expected to have run already (a re-run of one
    date is start = through = that date).
    """
    from grouprebate.run_session import RunSession

    config = load_config(config_file)
    paths = RunPaths(landing.resolve(), workdir.resolve())
    if not paths.landing.is_dir():
        raise RunFailed(f"{paths.landing}: landing zone not found")
    dates = [d for d in config.calendar()
             if (through is None or d <= through) and (start is None or d >= start)]
    if not dates:
        raise RunFailed(f"no calendar date between {start} and {through} "
                        f"(the calendar is {config.calendar_start} to {config.calendar_end})")
    paths.workdir.mkdir(parents=True, exist_ok=True)
    results: list[DateResult] = []
    with _environ_restored(), spark_connect_server(paths.workdir) as server:
        env = airflow_env(paths, config_file.resolve(), server.conn)
        os.environ.update(env)
        with _db_migrating(env):
            _parse_dbt_project(config, dates[0], paths)
        _use_airflow_home()
        dag = _load_dag()
        server.wait_ready()
        with RunSession(server.remote) as session, _no_full_collections(), \
                _listening(_progress_listener(), session.listener):
            for i, ds in enumerate(dates, 1):
                print(f"[{i}/{len(dates)}] ds={ds}", flush=True)
                result = _run_date(dag, config, ds)
                results.append(result)
                write_timings(paths.workdir / TIMINGS_FILE, results)
                print(f"    {result.breakdown()}", flush=True)
                if result.state != "success":
                    failed = [t for t, (s, _) in result.tasks.items() if s == "failed"]
                    raise RunFailed(
                        f"ds={ds} failed at {', '.join(failed) or 'an unknown task'}; logs "
                        f"under {paths.airflow_home / 'logs'}; fix the cause and re-run "
                        f"(dates before {ds} are kept)"
                    )
    return results


def summarize(workdir: Path, results: list[DateResult]) -> str:
    """The closing lines of a run: money totals from the marts and where the files are."""
    from grouprebate.publish import duckdb_query

    paths = RunPaths(Path("."), workdir.resolve())
    lines = [f"ran {len(results)} dates in {sum(r.seconds for r in results):.0f}s"]
    timings: dict[str, float] = {}
    for result in results:
        for task_id, (_, seconds) in result.tasks.items():
            timings[task_id] = timings.get(task_id, 0.0) + seconds
    busiest = sorted(timings.items(), key=lambda kv: -kv[1])[:6]
    lines.append("time by task: " + ", ".join(f"{t} {s:.0f}s" for t, s in busiest))
    if paths.warehouse.exists():
        query = duckdb_query(paths.warehouse)
        winners, packets = query(
            "select count(*), coalesce(sum(red_packet_fen), 0) from marts.winner_list", [])[0]
        payouts, paid = query(
            "select count(*), coalesce(sum(amount_fen), 0) from marts.payouts", [])[0]
        forfeits, forfeited = query(
            "select count(*), coalesce(sum(amount_fen), 0) from marts.forfeitures", [])[0]
        lines += [
            f"winners: {winners} groups, red packets {packets / 100:,.2f} CNY ({packets} fen)",
            f"payouts: {payouts}, {paid / 100:,.2f} CNY ({paid} fen)",
            f"forfeitures: {forfeits}, {forfeited / 100:,.2f} CNY ({forfeited} fen)",
        ]
    lines += [
        f"warehouse: {paths.warehouse}",
        f"exports:   {paths.exports} (payouts/, draw/, public/)",
        f"lake:      {paths.lake}",
        f"timings:   {paths.workdir / TIMINGS_FILE} (every task of every date)",
    ]
    return "\n".join(lines)
