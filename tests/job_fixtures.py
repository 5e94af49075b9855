"""Helpers for the Spark job tests: per-test copies of a lake built once, and a job's
command line run without leaving its settings on the tests' shared session."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import SparkSession


def copy_lake(built: Path, to: Path) -> str:
    """A private copy of a lake a module-scoped fixture built once, for a test to run jobs on.

    The built lake is never written to after its fixture returns, so no test sees
    another test's outputs, whatever the order.
    """
    shutil.copytree(built, to)
    return str(to)


@contextlib.contextmanager
def session_settings_kept(spark: SparkSession) -> Iterator[None]:
    """Put back the session's runtime settings after a job's main() has run.

    main() calls get_spark, whose getOrCreate hands back the tests' session and applies
    the job's own settings to it (8 shuffle partitions, adaptive execution): left in
    place, every later test in the session would run with them, about twice the Spark jobs.
    """
    before = dict(spark.conf.getAll)
    try:
        yield
    finally:
        for key, value in dict(spark.conf.getAll).items():
            if before.get(key) == value or not spark.conf.isModifiable(key):
                continue
            if key in before:
                spark.conf.set(key, before[key])
            else:
                spark.conf.unset(key)
