"""The command line every Spark job shares: arguments, config, session and errors."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import SparkSession

from grouprebate.config import CampaignConfig, ConfigError, load_config
from spark_jobs.session import get_spark

JobBody = Callable[[SparkSession, argparse.Namespace, CampaignConfig], str]


def run_job(
    doc: str,
    argv: list[str] | None,
    body: JobBody,
    expected_errors: tuple[type[Exception], ...],
    needs_landing: bool = False,
) -> int:
    """Parse --lake/--config/--ds (and --landing), run the body, print its summary.

    Expected failures print one `error:` line and exit 1; a bad config exits 2.
    """
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    if needs_landing:
        parser.add_argument("--landing", required=True, help="landing zone directory")
    # Absolute: Spark (on a Connect server) and the commit's renames (in this process)
    # must resolve the lake to the same folder.
    parser.add_argument("--lake", required=True, type=lambda p: str(Path(p).resolve()),
                        help="root of the lake (job outputs)")
    parser.add_argument("--config", required=True, help="campaign config YAML")
    parser.add_argument("--ds", required=True, type=dt.date.fromisoformat, help="run date")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, need_seed=False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = get_spark(f"{parser.prog} {args.ds}")
    try:
        print(body(spark, args, config))
    except expected_errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
