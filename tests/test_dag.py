"""The DAG file loads cleanly and reads like the table of contents of a nightly run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zoneinfo

import pytest

from expectations.gate import QualityGateFailed
from grouprebate.alerts import fails_fast
from grouprebate.config import ConfigError
from grouprebate.paths import REPO_ROOT
from grouprebate.publish.files import PublishedFileConflict
from grouprebate.publish.payouts import DuplicatePayout
from spark_jobs.attribute_orders import FrozenSnapshotConflict

DAG_FOLDER = REPO_ROOT / "dags"


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    from grouprebate.local.run import load_dag

    return load_dag()


def test_every_dag_file_imports_without_errors(tmp_path):
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAG_FOLDER)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(bag.dag_ids))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "grouprebate_campaign" in done.stdout


def test_task_graph_runs_the_stages_in_order(dag):
    order = ["wait_for_landing", "ingest_landing", "check_landing", "attribute_orders",
             "check_attribution", "build_marts", "check_marts", "choose_calendar_steps"]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task("choose_calendar_steps").downstream_task_ids == {
        "publish_seed_digest", "publish_draw_audit", "publish_winner_list", "export_payouts",
        "build_report"
    }
    # a payout file is published only after its gate passed
    assert dag.get_task("check_exports").upstream_task_ids == {"export_payouts"}
    assert dag.get_task("publish_payouts").upstream_task_ids == {"check_exports"}


def test_schedule_covers_the_campaign_calendar_in_its_timezone(dag, config):
    tz = zoneinfo.ZoneInfo(config.timezone)
    assert dag.start_date == dt.datetime(2018, 10, 20, 2, tzinfo=tz)
    assert dag.end_date == dt.datetime(2018, 11, 23, 2, tzinfo=tz)
    assert dag.catchup is True and dag.max_active_runs == 1


def test_tasks_retry_with_backoff_and_report_failures(dag):
    from grouprebate.alerts import notify_failure

    task = dag.get_task("ingest_landing")
    assert task.retry_exponential_backoff
    assert task.depends_on_past
    assert notify_failure in (task.on_failure_callback if isinstance(task.on_failure_callback, list)
                              else [task.on_failure_callback])


def test_every_working_task_fails_fast_on_a_permanent_error(dag):
    """A gate, a publish step or a Spark job that meets an error waiting cannot fix fails
    without using its retries; only the sensor and the branch have nothing to fail on."""
    waiting = {"wait_for_landing", "choose_calendar_steps"}
    for task in dag.tasks:
        wrapped = getattr(task.python_callable, "fails_fast", False)
        assert wrapped is (task.task_id not in waiting), task.task_id
    assert dag.get_task("check_landing").depends_on_past


@pytest.mark.parametrize("error", [
    QualityGateFailed("landing gate failed"), PublishedFileConflict("would change"),
    DuplicatePayout("already paid"), FrozenSnapshotConflict("pools differ"),
    ConfigError("draw.seed_env: not set"),
])
def test_fails_fast_fails_the_task_without_retries(error):
    from airflow.sdk.exceptions import AirflowFailException

    def task_body(logical_date=None):
        raise error

    with pytest.raises(AirflowFailException, match=type(error).__name__) as failed:
        fails_fast(task_body)(logical_date=None)
    assert failed.value.__cause__ is error


def test_fails_fast_keeps_retries_for_errors_that_may_pass():
    def task_body():
        raise ConnectionError("Spark Connect went away")

    with pytest.raises(ConnectionError):
        fails_fast(task_body)()


def test_spark_tasks_use_the_spark_connection(dag):
    for task_id in ("ingest_landing", "check_landing", "attribute_orders", "check_attribution"):
        task = dag.get_task(task_id)
        assert task.conn_id == "spark_grouprebate"
