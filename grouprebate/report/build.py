"""`grouprebate report` and the DAG's build_report: the campaign report of a work
directory's warehouse, as of the run date it was built for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from grouprebate.config import CampaignConfig
from grouprebate.report.charts import sections
from grouprebate.report.data import read_report_data
from grouprebate.report.metrics import Metrics, as_of, read_only_query, write_semantic_manifest
from grouprebate.report.page import write_report
from grouprebate.warehouse.marts import Query, warehouse_target

REPORTS_DIR = "reports"


class ReportError(ValueError):
    """A report that cannot be built from this work directory; the message says why."""


def build_report(workdir: Path, config: CampaignConfig, key: str, ds: dt.date | None = None
                 ) -> Path:
    """Write the report of the warehouse in `workdir`; returns the HTML file.

    The marts are read from the target GROUPREBATE_DBT_TARGET names (the work directory's
    DuckDB file, or Postgres). The warehouse holds the marts of one run date: `ds`, when
    given, must be that date (re-run the date to report on it), so a report never mixes
    dates.
    """
    target, warehouse = warehouse_target(), workdir / "warehouse.duckdb"
    if target == "duckdb" and not warehouse.is_file():
        raise ReportError(f"{warehouse}: no warehouse; run the campaign into {workdir} first")
    query = read_only_query(warehouse, target)
    built = as_of(query)
    if ds is not None and ds != built:
        raise ReportError(f"the warehouse in {workdir} is as of {built}, not {ds}; run "
                          f"`grouprebate run --from {ds} --through {ds}` to report on {ds}, "
                          "or leave out --ds")
    metrics = Metrics(write_semantic_manifest(config, workdir / "lake", warehouse, target),
                      query, target)
    return render_report(query, metrics, config, key, workdir / REPORTS_DIR)


def render_report(query: Query, metrics: Metrics, config: CampaignConfig, key: str,
                  reports: Path) -> Path:
    """The report of the marts `query` reads, written under `reports`."""
    data = read_report_data(query, metrics, config, key)
    return write_report(data, sections(data), reports)
