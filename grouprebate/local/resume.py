"""Picking a run up where a killed or failed one stopped, as a backfill would.

Airflow's metadata DB in the work directory is the record of which dates succeeded;
a run that was killed leaves its DAG run "running" there, its half-written files
under their temporary names, and possibly its Spark Connect server. The next start
clears all three before it runs anything (grouprebate.local.run holds the work
directory's lock, so nothing else can be running them).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from grouprebate.calendar import run_date
from grouprebate.config import CampaignConfig
from grouprebate.paths import RunPaths

DAG_ID = "grouprebate_campaign"
# Written under a temporary name and renamed into place when complete: Spark's output
# committer (`_temporary/`), the publishers and the gates (`*.tmp`), and the warehouse
# build (grouprebate.warehouse.dbt_runner.BUILDING_DIR).
TEMPORARY_DIRS = ("_temporary",)
TEMPORARY_SUFFIX = ".tmp"


def remove_temporary_files(paths: RunPaths) -> list[Path]:
    """Delete what a killed run was still writing: nothing reads it, and a re-run of its
    date writes it afresh. Returns what was removed."""
    from grouprebate.warehouse.dbt_runner import building_dir

    removed: list[Path] = []
    for root in (paths.lake, paths.staging, paths.exports):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*"), reverse=True):  # contents before their folder
            if path.is_dir() and path.name in TEMPORARY_DIRS:
                shutil.rmtree(path)
                removed.append(path)
            elif path.is_file() and path.name.endswith(TEMPORARY_SUFFIX):
                path.unlink()
                removed.append(path)
    building = building_dir(paths.warehouse)
    if building.exists():
        shutil.rmtree(building)
        removed.append(building)
    return [p for p in removed if not any(parent in removed for parent in p.parents)]


def fail_interrupted_runs(config: CampaignConfig) -> list[dt.date]:
    """Mark failed the DAG runs, and their unfinished tasks, that Airflow still thinks are
    running: the process running them is gone. Returns their dates."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState

    dates = []
    with create_session() as session:
        for state in (DagRunState.RUNNING, DagRunState.QUEUED):
            for run in DagRun.find(dag_id=DAG_ID, state=state, session=session):
                for ti in run.get_task_instances(state=State.unfinished, session=session):
                    ti.set_state(TaskInstanceState.FAILED, session=session)
                run.set_state(DagRunState.FAILED)
                session.merge(run)
                dates.append(run_date(run.logical_date, config))
    return sorted(dates)


def succeeded_dates(config: CampaignConfig) -> set[dt.date]:
    """The dates whose DAG run succeeded, from Airflow's metadata DB."""
    from airflow.models import DagRun
    from airflow.utils.state import DagRunState

    return {run_date(run.logical_date, config)
            for run in DagRun.find(dag_id=DAG_ID, state=DagRunState.SUCCESS)}


def plan_dates(calendar: list[dt.date], succeeded: set[dt.date], *,
               start: dt.date | None = None, through: dt.date | None = None,
               rerun: bool = False) -> tuple[list[dt.date], list[dt.date]]:
    """(dates to run, dates skipped) of the calendar up to `through`.

    With `start` the range is exactly start..through; with `rerun`, every date. Otherwise
    the run skips the leading dates that succeeded and runs from the first that did not:
    every date after it depends on it, so later successes are run again.
    """
    dates = [d for d in calendar
             if (through is None or d <= through) and (start is None or d >= start)]
    if start is not None or rerun:
        return dates, []
    first = next((i for i, d in enumerate(dates) if d not in succeeded), len(dates))
    return dates[first:], dates[:first]
