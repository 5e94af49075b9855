"""Time the campaign report's phases on a run's work directory (docs/analysts.md):

    GROUPREBATE_PSEUDONYM_KEY=... .venv/bin/python benchmarks/report_build.py \
        --workdir WORKDIR --config CONFIG [--out benchmarks/results/report_build.json]

One process, as a production task: the dbt parse (cold, then the cached manifest), the
MetricFlow engine, the marts' reads, then charts, SVG files and page (the first call
starts vl-convert's JavaScript runtime), each phase three times where repeatable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

from grouprebate.config import load_config
from grouprebate.report.charts import sections
from grouprebate.report.data import read_report_data
from grouprebate.report.metrics import Metrics, read_only_query, write_semantic_manifest
from grouprebate.report.page import write_report


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - start, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", default="benchmarks/results/report_build.json")
    args = parser.parse_args()
    config = load_config(args.config, need_seed=False)
    key, warehouse = config.pseudonym_key(), args.workdir / "warehouse.duckdb"
    query = read_only_query(warehouse)
    load_start = os.getloadavg()[0]
    runs: dict[str, list[float]] = {}
    for phase in ("parse (cold)", "parse (cached)"):
        manifest, seconds = timed(write_semantic_manifest, config, args.workdir / "lake",
                                  warehouse)
        runs[phase] = [seconds]
    for _ in range(3):
        metrics, seconds = timed(Metrics, manifest, query)
        runs.setdefault("MetricFlow engine", []).append(seconds)
        data, seconds = timed(read_report_data, query, metrics, config, key)
        runs.setdefault("marts and metrics read", []).append(seconds)
        _, seconds = timed(write_report, data, sections(data), args.workdir / "reports-bench")
        runs.setdefault("charts, SVG files and page", []).append(seconds)
    result = {
        "measurement": "report_build",
        "what": "the phases of the campaign report (grouprebate/report/) in one process, "
                "on the warehouse of the short end-to-end campaign as of its last date",
        "date": dt.date.today().isoformat(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": round(load_start, 2),
                    "load_average_at_end": round(os.getloadavg()[0], 2)},
        "versions": {p: version(p) for p in ("dbt-core", "metricflow", "altair",
                                              "vl-convert-python", "duckdb")},
        "command": "GROUPREBATE_PSEUDONYM_KEY=e2e-key .venv/bin/python "
                   "benchmarks/report_build.py --workdir WORKDIR "
                   "--config tests/fixtures/short-campaign.yaml (WORKDIR: the short campaign "
                   "of tests/e2e_campaign.py, 60 groups, seed 11, run to its last date)",
        "units": "seconds",
        "results": {"median": {k: statistics.median(v) for k, v in runs.items()},
                    "runs": runs},
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["results"]["median"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
