"""The Spark jobs on a real Spark standalone cluster give the lake that local mode gives.

A master and one worker are started from the installed PySpark (`spark-class ...Master`
and `...Worker` on 127.0.0.1, free ports, small memory), as a standalone cluster runs
them; the DAG's ingest and attribution tasks then run for the first two dates of the
shared short campaign (the `campaign` fixture: the second date ingests against the first
one's lake and attributes the first day of accumulation) through the DAG's connection
`spark_grouprebate` (host `spark://127.0.0.1`, the master's port), in a process of their
own (tests/spark_tasks.py), and their lake partitions are compared with the campaign's,
which `grouprebate run` wrote through the same tasks on a local Spark. The lake is on
this machine's filesystem, which the driver and the worker share, as a cluster shares a
network filesystem. Every process the test started - master, worker, executors, driver -
is stopped when it ends, passed or failed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.e2e_campaign import CONFIG
from tests.spark_tasks import SPARK_TASKS

pytestmark = pytest.mark.e2e
DATES = ("2018-11-09", "2018-11-10")
ROOT = Path(__file__).resolve().parents[1]
# The session's settings, as the connection's extras: a small campaign's queries cost more
# to compile into whole stages than they save (grouprebate run's server does the same).
SMALL_QUERIES = {"spark.driver.memory": "1g", "spark.ui.enabled": "false",
                 "spark.sql.codegen.wholeStage": "false"}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def processes_with(marker: str) -> list[str]:
    """Live processes whose command line holds the marker (zombies excluded)."""
    listed = subprocess.run(["ps", "-eww", "-o", "stat=,pid=,args="], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    return [line for line in listed if marker in line and not line.lstrip().startswith("Z")
            and "ps -eww" not in line]


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, and every process of that session
    (a worker's executors), waiting for them; SIGKILL after 30 s."""
    for signum, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(check, what: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"{what} within {timeout:.0f} s; its log {log}:\n{tail}")
        time.sleep(0.5)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive_workers(webui_port: int) -> int:
    """Workers the master's web UI lists; 0 while the UI is not up or answers an empty or
    partial page (it serves before its state is ready)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=2) as page:
            return int(json.load(page).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


@pytest.fixture
def spark_cluster(tmp_path) -> Iterator[dict]:
    """A standalone master and one worker (2 cores, 1 GiB) on 127.0.0.1; yields the
    connection for spark_grouprebate. Stops both and their executors on exit, then checks
    that no process of the cluster is left."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    marker = f"grouprebate.test.cluster={uuid.uuid4().hex}"
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(logs), "SPARK_DAEMON_JAVA_OPTS": f"-D{marker}",
           "SPARK_DAEMON_MEMORY": "512m", "PYSPARK_PYTHON": sys.executable}
    master_port, master_ui, worker_port, worker_ui = free_ports(4)
    spark_class = str(spark_home / "bin" / "spark-class")
    commands = {
        "master": [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                   "--port", str(master_port), "--webui-port", str(master_ui)],
        "worker": [spark_class, "org.apache.spark.deploy.worker.Worker",
                   f"spark://127.0.0.1:{master_port}", "--host", "127.0.0.1",
                   "--port", str(worker_port), "--webui-port", str(worker_ui),
                   "--cores", "2", "--memory", "1g", "--work-dir", str(tmp_path / "worker")],
    }
    started: list[subprocess.Popen] = []
    try:
        for name, command in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                started.append(subprocess.Popen(command, env=env, stdout=log,
                                                stderr=subprocess.STDOUT,
                                                start_new_session=True))
            if name == "master":
                wait_for(lambda: port_open(master_port), "the master did not listen",
                         logs / "master.log")
        wait_for(lambda: alive_workers(master_ui) == 1, "the worker did not register",
                 logs / "worker.log")
        yield {"conn_type": "spark", "host": "spark://127.0.0.1", "port": master_port,
               "extra": {**SMALL_QUERIES, "spark.executor.memory": "512m",
                         "spark.executor.extraJavaOptions": f"-D{marker}"}}
    finally:
        for process in reversed(started):
            stop_group(process)
        left = processes_with(marker)
        assert not left, f"processes of the test's Spark cluster still run: {left}"


def run_spark_tasks(landing: Path, workdir: Path, conn: dict) -> list[dict]:
    """The DAG's Spark tasks for DATES through `conn`, in a process of their own (stopped
    with everything it started, if it fails or hangs); their timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "AIRFLOW"))}
    env.update({
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SPARK_GROUPREBATE": json.dumps(conn),
        "GROUPREBATE_LANDING": str(landing),
        "GROUPREBATE_WORKDIR": str(workdir),
        "GROUPREBATE_CONFIG": str(CONFIG),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        # A tiny campaign: a few shuffle partitions, as `grouprebate run` sizes them.
        "SPARK_SHUFFLE_PARTITIONS": "2",
    })
    workdir.mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-m", "tests.spark_tasks", *DATES], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=1500)
    finally:
        stop_group(process)
    assert process.returncode == 0, (stdout + stderr)[-4000:]
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def partitions(lake: Path, dates: tuple[str, ...]) -> dict[str, list[str]]:
    """The rows of every table's partitions of the given dates, sorted, keyed by the
    partition's folder (e.g. `attribution/group_pools/ds=2018-11-10`)."""
    contents = {}
    with duckdb.connect() as con:
        for folder in sorted(lake.rglob("ds=*")):
            if folder.is_dir() and folder.name.removeprefix("ds=") in dates:
                files = sorted(str(f) for f in folder.glob("*.parquet"))
                rows = con.execute("select * from read_parquet(?)", [files]).fetchall() \
                    if files else []
                contents[str(folder.relative_to(lake))] = sorted(map(repr, rows))
    return contents


def test_the_jobs_on_a_standalone_cluster_write_the_lake_local_mode_writes(
        campaign, spark_cluster, tmp_path):
    """The cluster's lake against the shared campaign's, which `grouprebate run` wrote
    through the same DAG tasks on a local Spark: the same partitions, row for row."""
    on_cluster = run_spark_tasks(campaign["root"] / "landing", tmp_path / "cluster",
                                 spark_cluster)

    assert [(t["ds"], t["task"]) for t in on_cluster] == \
        [(ds, task) for ds in DATES for task in SPARK_TASKS]
    cluster_lake = partitions(tmp_path / "cluster" / "lake", DATES)
    for ds in DATES:
        assert {f"orders/ds={ds}", f"attribution/group_pools/ds={ds}"} <= set(cluster_lake)
    assert any(cluster_lake[f"attribution/group_pools/ds={DATES[-1]}"])
    local_lake = partitions(campaign["workdir"] / "lake", DATES)
    assert cluster_lake == {name: local_lake.get(name) for name in cluster_lake}
    apps = list((tmp_path / "worker").glob("app-*"))
    assert len(apps) == len(on_cluster), "every task ran its executors on the worker"
    print("seconds per task on the cluster:",
          [(t["ds"], t["task"], t["seconds"]) for t in on_cluster])
