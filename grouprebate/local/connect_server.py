"""A local Spark Connect server that serves every Spark task of one `grouprebate run`.

One server for the whole run means no task pays a JVM start-up, and the JIT-compiled
code of the first dates serves the later ones. Its settings are for many small queries
on a small machine (docs/orchestration.md explains each).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grouprebate.local.locks import NoFreePort, reserve_port

CONNECT_PORT = int(os.environ.get("GROUPREBATE_CONNECT_PORT", "15002"))
# Set on the server's command line so a later run can tell its own leftover server
# from another work directory's (leftover_servers).
WORKDIR_CONF = "spark.grouprebate.workdir"


class ConnectServerFailed(RuntimeError):
    """The local Spark Connect server did not start; the message says where its logs are."""


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
    stop: Callable[[], None]  # stops the server and waits until its port is closed

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
            raise ConnectServerFailed(f"Spark Connect failed to start: {stderr.strip()[-1000:]}")
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if time.monotonic() > deadline:
                raise ConnectServerFailed(f"Spark Connect did not start on port {self.port}; "
                                          f"see {self.logs}")
            time.sleep(0.2)


@contextmanager
def spark_connect_server(workdir: Path, port: int = CONNECT_PORT) -> Iterator[ConnectServer]:
    """A local Spark Connect server for the whole run, stopped on exit.

    It is only being started when this yields: its JVM comes up (about 5 s) while the
    caller prepares Airflow; call wait_ready() before the first Spark task.
    """
    import pyspark

    from spark_jobs.session import DRIVER_SETTINGS, THREAD_STACK

    spark_home = Path(pyspark.__file__).parent
    logs = workdir / "spark-logs"
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOG_DIR": str(logs),
           "SPARK_PID_DIR": str(logs), "PYSPARK_PYTHON": sys.executable}
    try:
        reservation = reserve_port(port)
    except NoFreePort as exc:
        raise ConnectServerFailed(str(exc)) from None
    port = reservation.port
    env = {**env, "SPARK_IDENT_STRING": f"grouprebate-{port}"}
    conf = {
        WORKDIR_CONF: str(workdir.resolve()),
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        **DRIVER_SETTINGS,
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "4g"),
        # Small queries: generating and JIT-compiling Java for whole stages costs more
        # than it saves; expressions are still compiled, into a cache large enough for
        # a run's plans, so later dates reuse them.
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.cache.maxEntries": "10000",
        # Adaptive execution re-plans each query after every stage: fixed work per
        # query that a small day's data never repays.
        "spark.sql.adaptive.enabled": "false",
        # A lake table has one folder per date; list them in the driver, not with a
        # distributed job (Spark's default past 32 folders).
        "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
        # A local lake is rewritten by any re-run and Parquet pages carry checksums:
        # no checksum file beside each file, and no _SUCCESS marker, which nothing reads.
        "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
        # Hadoop sets the mode of what it writes itself (022 by default): the lake is
        # readable by its owner only, like everything else of the run.
        "spark.hadoop.fs.permissions.umask-mode": "077",
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        # One long-lived server running many small queries on two cores: the throughput
        # collector, and the optimizing JIT compiler kept for really hot code; the stack
        # every job's tasks need (spark_jobs.session.THREAD_STACK).
        "spark.driver.extraJavaOptions": " ".join([
            THREAD_STACK, "-XX:+UseParallelGC",
            "-XX:Tier4InvocationThreshold=50000", "-XX:Tier4MinInvocationThreshold=20000",
            "-XX:Tier4CompileThreshold=60000", "-XX:Tier4BackEdgeThreshold=400000",
        ]),
    }
    args = [str(spark_home / "sbin" / "start-connect-server.sh")]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    # The server inherits the port's lock: the port stays reserved while it lives, even
    # if this process is killed and the server outlives it.
    try:
        starting = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True,
                                    pass_fds=(reservation.fd,))
    except OSError:
        reservation.release()
        raise

    def stop() -> None:
        if starting.returncode is None:  # wait_ready() was not reached
            starting.communicate()
        subprocess.run([str(spark_home / "sbin" / "stop-connect-server.sh")], env=env,
                       capture_output=True)
        deadline = time.monotonic() + 60  # the script returns before the JVM has exited
        while _port_open(port) and time.monotonic() < deadline:
            time.sleep(0.5)

    try:
        yield ConnectServer(port, starting, logs, stop)
    finally:
        stop()
        reservation.release()


def _command_line(pid: int) -> str:
    """The command line of a live process; empty once it has ended (or is a zombie)."""
    done = subprocess.run(["ps", "-ww", "-o", "stat=,args=", "-p", str(pid)],
                          capture_output=True, text=True)
    stat, _, args = done.stdout.strip().partition(" ")
    return "" if not stat or stat.startswith("Z") else args.strip()


def leftover_servers(workdir: Path) -> list[tuple[Path, int | None]]:
    """The pid files a server of this work directory left in spark-logs/, each with its pid
    if that process still runs and is this work directory's server (None otherwise)."""
    marker = f"{WORKDIR_CONF}={workdir.resolve()}"
    found = []
    for pid_file in sorted((workdir / "spark-logs").glob("spark-*SparkConnectServer*.pid")):
        text = pid_file.read_text().strip()
        pid = int(text) if text.isdigit() else None
        alive = pid is not None and f"{marker} " in f"{_command_line(pid)} "
        found.append((pid_file, pid if alive else None))
    return found


def stop_leftover_servers(workdir: Path, timeout: float = 30) -> list[int]:
    """Stop the Spark Connect servers a killed run of this work directory left running
    (they hold their port and their lock); returns their pids. Others are left alone."""
    stopped = []
    for pid_file, pid in leftover_servers(workdir):
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _command_line(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _command_line(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
        pid_file.unlink(missing_ok=True)
    return stopped
