"""What `grouprebate run` reports of each date's time: its closing line and the timings file."""

from __future__ import annotations

import csv
import datetime as dt

from grouprebate.local.timings import DateResult, write_timings


def a_date(ds: dt.date, seconds: float, **tasks: tuple[str, float]) -> DateResult:
    return DateResult(ds, "success", seconds, dict(tasks))


def test_the_closing_line_names_the_tasks_that_took_time_and_the_rest_as_other():
    result = a_date(dt.date(2018, 10, 21), 7.0, wait_for_landing=("success", 0.03),
                    ingest_landing=("success", 3.2), attribute_orders=("success", 2.1),
                    check_attribution=("success", 0.05), build_marts=("success", 1.2))
    assert result.breakdown() == ("success in 7.0s (ingest_landing 3.2s, attribute_orders 2.1s, "
                                  "build_marts 1.2s, other 0.5s)")


def test_the_timings_file_has_every_task_of_every_date_in_run_order(tmp_path):
    results = [
        a_date(dt.date(2018, 11, 12), 4.0, ingest_landing=("success", 2.5),
               publish_seed_digest=("skipped", 0.0), export_payouts=("success", 0.12)),
        a_date(dt.date(2018, 11, 13), 5.5, ingest_landing=("success", 3.0),
               build_marts=("failed", 1.4)),
    ]
    path = tmp_path / "run-timings.csv"
    write_timings(path, results)
    with path.open(newline="") as rows:
        assert list(csv.DictReader(rows)) == [
            {"ds": "2018-11-12", "dag_run_seconds": "4.00", "task": "ingest_landing",
             "state": "success", "task_seconds": "2.50"},
            {"ds": "2018-11-12", "dag_run_seconds": "4.00", "task": "publish_seed_digest",
             "state": "skipped", "task_seconds": "0.00"},
            {"ds": "2018-11-12", "dag_run_seconds": "4.00", "task": "export_payouts",
             "state": "success", "task_seconds": "0.12"},
            {"ds": "2018-11-13", "dag_run_seconds": "5.50", "task": "ingest_landing",
             "state": "success", "task_seconds": "3.00"},
            {"ds": "2018-11-13", "dag_run_seconds": "5.50", "task": "build_marts",
             "state": "failed", "task_seconds": "1.40"},
        ]
