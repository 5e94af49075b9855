"""Two `grouprebate run`s never collide: one per work directory, one per Spark Connect port.

The locks are flock locks, so a killed holder leaves none behind. No test here starts a
real server: the port a server is given is the one its reservation holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grouprebate.cli import EXIT_WORKDIR_IN_USE, main
from grouprebate.local import connect_server, run
from grouprebate.local.locks import reserve_port, workdir_locked

SHORT = Path(__file__).parent / "fixtures" / "short-campaign.yaml"
HOLDER = ("import sys, time\nfrom pathlib import Path\n"
          "from grouprebate.local.locks import workdir_locked\n"
          "with workdir_locked(Path(sys.argv[1])):\n"
          "    print('held', flush=True)\n    time.sleep(120)\n")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the work directory's lock, as a running run does."""
    workdir = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield workdir, proc
    proc.kill()
    proc.wait()


@pytest.fixture(autouse=True)
def private_port_locks(tmp_path, monkeypatch):
    monkeypatch.setenv("GROUPREBATE_PORT_LOCK_DIR", str(tmp_path))


def test_a_second_run_on_a_work_directory_in_use_refuses_at_once(holder, tmp_path, capsys,
                                                                   monkeypatch):
    workdir, proc = holder
    (tmp_path / "landing").mkdir()

    def must_not_start(*args, **kwargs):
        raise AssertionError("the second run went on to start a Spark server")

    monkeypatch.setattr(run, "spark_connect_server", must_not_start)
    monkeypatch.setenv("GROUPREBATE_PSEUDONYM_KEY", "lock-test-key")
    started = time.monotonic()
    code = main(["run", "--landing", str(tmp_path / "landing"), "--config", str(SHORT),
                 "--workdir", str(workdir), "--rerun"])
    assert code == EXIT_WORKDIR_IN_USE
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert f"is in use by another grouprebate run (pid {proc.pid})" in err
    assert not (workdir / "airflow").exists()


def test_a_killed_runs_lock_dies_with_it(holder):
    workdir, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with workdir_locked(workdir):
        pass


def test_runs_started_together_reserve_different_ports(free_port):
    barrier = threading.Barrier(4)
    reservations = []

    def reserve():
        barrier.wait()
        reservations.append(reserve_port(free_port))

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len({r.port for r in reservations}) == 4
    finally:
        for reservation in reservations:
            reservation.release()


def test_a_port_something_listens_on_is_passed_over(free_port):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port))
        busy.listen()
        reservation = reserve_port(free_port)
        reservation.release()
    assert reservation.port != free_port


def test_each_server_binds_the_port_its_reservation_holds_and_inherits_the_lock(
        tmp_path, free_port, monkeypatch):
    started = []

    class FakeStart:
        returncode = 0

        def __init__(self, args, pass_fds=(), **kwargs):
            started.append((args, pass_fds))

        def communicate(self):
            return "", ""

    monkeypatch.setattr(connect_server.subprocess, "Popen", FakeStart)
    monkeypatch.setattr(connect_server.subprocess, "run", lambda *a, **k: None)
    with connect_server.spark_connect_server(tmp_path / "a", port=free_port) as first, \
            connect_server.spark_connect_server(tmp_path / "b", port=free_port) as second:
        assert first.port != second.port
    for (args, pass_fds), server in zip(started, (first, second), strict=True):
        assert f"spark.connect.grpc.binding.port={server.port}" in args
        assert len(pass_fds) == 1
