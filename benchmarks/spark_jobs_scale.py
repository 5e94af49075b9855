"""Wall time and peak memory of the Spark jobs on a generated campaign (`make bench`).

    python benchmarks/spark_jobs_scale.py --groups 10000 --workdir /tmp/bench [--through DATE]

Generates the campaign, ingests every calendar date up to the freeze date in
order, then runs the freeze attribution, all on one local Spark session.
Peak memory is the largest resident size of the driver JVM (which runs the
local executors too) and of this Python process, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path

import psutil

from grouprebate.config import load_config
from grouprebate.demo.generator import generate
from grouprebate.paths import DEFAULT_CONFIG


class PeakMemory:
    """Samples the RSS of this process and its children (the JVM) in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = me.memory_info().rss
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    config = load_config(DEFAULT_CONFIG, need_seed=False)
    landing, lake = args.workdir / "landing", args.workdir / "lake"
    if not landing.exists():
        started = time.perf_counter()
        summary = generate(landing, groups=args.groups, seed=args.seed, config=config)
        print(f"generate: {summary['total_rows']:,} rows in {time.perf_counter() - started:.0f}s")
    os.environ.setdefault("SPARK_MASTER", "local[2]")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from spark_jobs.attribute_orders import attribute
    from spark_jobs.ingest_landing import ingest
    from spark_jobs.session import get_spark

    spark = get_spark("bench")
    days = [d for d in config.calendar() if d <= config.freeze_ds]
    ingest_times: dict[dt.date, float] = {}
    with PeakMemory() as ingest_peak:
        for ds in days:
            started = time.perf_counter()
            ingest(spark, str(landing), str(lake), config, ds)
            ingest_times[ds] = time.perf_counter() - started
            print(f"  ingest {ds}: {ingest_times[ds]:.0f}s", flush=True)
    with PeakMemory() as attribute_peak:
        started = time.perf_counter()
        attribute(spark, str(lake), config, config.freeze_ds)
        attribute_seconds = time.perf_counter() - started
    busiest = max(ingest_times, key=ingest_times.get)
    print(f"machine: {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; groups: {args.groups:,}")
    print(f"ingest: {len(days)} dates in {sum(ingest_times.values()):.0f}s "
          f"(slowest {busiest}: {ingest_times[busiest]:.0f}s), "
          f"peak RSS {ingest_peak.peak / 2**30:.1f} GiB")
    print(f"attribute (freeze date, whole lake): {attribute_seconds:.0f}s, "
          f"peak RSS {attribute_peak.peak / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
