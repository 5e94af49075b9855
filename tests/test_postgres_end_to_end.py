"""The short campaign's calendar on the Postgres warehouse: the same contract marts and,
byte for byte, the same exports as the DuckDB run of the shared `campaign` fixture.

The fixture's Spark jobs already wrote the lake; this replays what follows them on each
date, on Postgres (GROUPREBATE_DBT_TARGET=postgres): the lake grows by that date's
partitions, and the DAG's own task functions run in the DAG's order - the build (with its
incremental lake load), the marts gate, the branch and every publishing task it chooses.
The Spark quality gates are left out (they write nothing); the analysts' report, read from
Postgres, must equal the DuckDB run's to the byte too.
Skipped, saying why, when no PostgreSQL server answers. Each run uses its own schema
prefix and drops its schemas.
"""

from __future__ import annotations

import datetime as dt
import inspect
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from grouprebate.calendar import logical_date_of
from grouprebate.warehouse.marts import postgres_query
from tests.e2e_campaign import CONFIG, exports_snapshot
from tests.postgres_schemas import own_schemas
from tests.test_dbt_marts import CONTRACT

psycopg2 = pytest.importorskip("psycopg2")
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
def pg_prefix() -> Iterator[str]:
    with own_schemas("e2e") as (_, prefix):
        yield prefix


def copy_partitions(source: Path, lake: Path, ds: dt.date | None) -> None:
    """Copy the partitions of ds (ds=None: every file outside a ds= folder) of the source
    lake into lake, as that date's Spark jobs wrote them."""
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source)
        folders = [p for p in relative.parts[:-1] if p.startswith("ds=")]
        if (folders and ds is not None and folders[0] == f"ds={ds}") or (
                not folders and ds is None):
            (lake / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, lake / relative)


def run_publishing_tasks(dag, logical_date: dt.datetime) -> None:
    """The date's warehouse and publishing tasks, as the DAG runs them after its Spark
    jobs: build_marts, check_marts, the branch, then the chosen steps (the report among
    them) and what follows them, minus the Spark gates."""
    from airflow.providers.apache.spark.operators.spark_pyspark import PySparkOperator

    def run(task):
        """The task's function with the context it asks for, as Airflow calls it."""
        wanted = inspect.signature(task.python_callable).parameters
        return task.python_callable(
            **({"logical_date": logical_date} if "logical_date" in wanted else {}))

    for task_id in ("build_marts", "check_marts"):
        run(dag.get_task(task_id))
    chosen = set(run(dag.get_task("choose_calendar_steps")))
    for task in dag.topological_sort():
        if chosen.intersection(task.upstream_task_ids) and task.task_id != "choose_calendar_steps":
            chosen.add(task.task_id)
        if task.task_id in chosen and not isinstance(task, PySparkOperator):
            run(task)


def normalised(rows: list[tuple]) -> list[str]:
    """Rows as comparable text: timestamps in UTC, whichever driver read them."""
    def one(value):
        return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value
    return sorted(repr(tuple(map(one, row))) for row in rows)


def test_the_calendar_on_postgres_gives_duckdbs_marts_and_the_same_export_bytes(
        campaign, pg_prefix, tmp_path, monkeypatch):
    from grouprebate.local.run import load_dag

    source = campaign["workdir"]
    replay = tmp_path / "work"
    lake = replay / "lake"
    for key, value in {
        "GROUPREBATE_DBT_TARGET": "postgres",
        "GROUPREBATE_SCHEMA_PREFIX": pg_prefix,
        "GROUPREBATE_LANDING": str(campaign["root"] / "landing"),
        "GROUPREBATE_WORKDIR": str(replay),
        "GROUPREBATE_CONFIG": str(CONFIG),
        "GROUPREBATE_PSEUDONYM_KEY": "e2e-key",  # as the fixture's run (e2e_campaign)
        "GROUPREBATE_RUN_ID": uuid.uuid4().hex,  # one run's builds, as `grouprebate run`
        "DBT_LOG_LEVEL": "warn",
    }.items():
        monkeypatch.setenv(key, value)
    dag = load_dag()
    config = campaign["config"]
    copy_partitions(source / "lake", lake, None)
    for ds in config.calendar():
        copy_partitions(source / "lake", lake, ds)
        run_publishing_tasks(dag, logical_date_of(ds, config))

    assert not (replay / "warehouse.duckdb").exists(), "the postgres target wrote DuckDB"
    query = postgres_query(pg_prefix)
    with duckdb.connect(str(source / "warehouse.duckdb"), read_only=True) as con:
        for mart in CONTRACT:
            duck = con.execute(f"select * from marts.{mart}").fetchall()
            assert normalised(query(f"select * from marts.{mart}", [])) == normalised(duck), mart

    expected = exports_snapshot(source / "exports")
    assert any(name.startswith("payouts") for name in expected)
    assert exports_snapshot(replay / "exports") == expected
    # the analysts' report, read through MetricFlow from Postgres, is DuckDB's to the byte
    reports = exports_snapshot(source / "reports")
    assert reports and exports_snapshot(replay / "reports") == reports
