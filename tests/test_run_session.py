"""A local run's Spark tasks share one Connect session, released when the run ends.

Two provider operators run one after the other on a real Spark Connect server, as
`grouprebate run` runs them: what the first leaves in its session (a temporary
view) is there for the second, though each operator stops its session; once the
run has released the session, the server refuses it. The script runs in its own
process: a classic Spark session of another test would capture `getOrCreate()`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = """
import json, os, sys
from pathlib import Path
from types import SimpleNamespace

from airflow.providers.apache.spark.operators.spark_pyspark import PySparkOperator
from pyspark.sql.connect.session import SparkSession

from grouprebate.local.connect_server import spark_connect_server
from grouprebate.local.run_session import RunSession

def first(spark=None):
    spark.range(3).createOrReplaceTempView("left_by_the_first_task")

def second(spark=None):
    return spark.table("left_by_the_first_task").count()

with spark_connect_server(Path(sys.argv[1]), port=int(sys.argv[2])) as server:
    server.wait_ready()
    os.environ["AIRFLOW_CONN_SPARK_GROUPREBATE"] = json.dumps(server.conn)
    with RunSession(server.remote) as session:
        for body in (first, second):
            operator = PySparkOperator(task_id=body.__name__, python_callable=body,
                                       conn_id="spark_grouprebate")
            session.listener.on_task_instance_running(None, SimpleNamespace(task=operator))
            result = operator.execute({})
        print("second task counted", result)
    late = SparkSession.builder.remote(session.url).create()
    try:
        late.range(1).count()
        print("after the run: session still open")
    except Exception as error:
        print("after the run:", error.getCondition())
    finally:
        late.stop()
"""


def test_spark_tasks_share_the_runs_session_and_the_run_releases_it(tmp_path, free_port):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "AIRFLOW"))}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(free_port)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "second task counted 3" in done.stdout, done.stdout[-3000:]
    assert "after the run: INVALID_HANDLE.SESSION_CLOSED" in done.stdout, done.stdout[-3000:]
