"""`make airflow`: Airflow's own UI comes up on 127.0.0.1 with the campaign DAG loaded.

Runs the Makefile target as a person would, on a free port and a work directory of
its own, and asks Airflow's REST API what it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def get_json(url: str, token: str | None = None, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=10) as r:
        return json.load(r)


@pytest.fixture
def airflow_ui(tmp_path, free_port):
    port = free_port
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SPARK_"))}
    log = (tmp_path / "standalone.log").open("w")
    ui = subprocess.Popen(["make", "--no-print-directory", "airflow", f"WORK={tmp_path}",
                           f"AIRFLOW_PORT={port}"], cwd=ROOT, env=env, stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert ui.poll() is None, (tmp_path / "standalone.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the API server did not answer in 180 s"
            try:
                health = get_json(f"{base}/api/v2/monitor/health")
                if health["scheduler"]["status"] == "healthy":
                    break
            except (OSError, ValueError, KeyError):  # not up, or a page still partial
                pass
            time.sleep(2)
        passwords = tmp_path / "airflow-ui" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        token = get_json(f"{base}/auth/token", body={"username": "admin",
                                                     "password": password})["access_token"]
        yield base, token
    finally:
        stop_tree(ui.pid)
        ui.wait()
        log.close()


def stop_tree(pid: int) -> None:
    """Stop a process and all it started: `airflow standalone` does not stop its
    components (scheduler, API server, ...) when it is terminated itself."""
    parent = psutil.Process(pid)
    processes = [*parent.children(recursive=True), parent]
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=30)
    for process in alive:
        process.kill()


def test_make_airflow_serves_the_campaign_dag_paused_and_without_import_errors(airflow_ui):
    base, token = airflow_ui
    deadline = time.monotonic() + 120
    while not (dags := get_json(f"{base}/api/v2/dags", token)["dags"]):
        assert time.monotonic() < deadline, "the DAG processor loaded no DAG in 120 s"
        time.sleep(2)
    assert [(d["dag_id"], d["is_paused"]) for d in dags] == [("grouprebate_campaign", True)]
    assert get_json(f"{base}/api/v2/importErrors", token)["import_errors"] == []
    tasks = get_json(f"{base}/api/v2/dags/grouprebate_campaign/tasks", token)["tasks"]
    assert {"wait_for_landing", "ingest_landing", "build_marts", "export_payouts"} <= {
        t["task_id"] for t in tasks}
