"""Wall time and peak memory of the Spark jobs on a generated campaign (`make bench`),
and what their quality gates add to them.

    python benchmarks/spark_jobs_scale.py --groups 10000 --workdir /tmp/bench

Generates the campaign, ingests every calendar date up to the freeze date in
order, each followed by its landing gate, then runs the freeze attribution and
its gate, all on one local Spark session. Peak memory is the largest resident
size of the driver JVM (which runs the local executors too) and of this Python
process, sampled every 0.2 s. A gate's time is reported as a share of the stage
it guards (issue 20's budget: at most 20%).
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
    from expectations.attribution import attribution_batches
    from expectations.gate import run_gate
    from expectations.landing import landing_batches
    from spark_jobs.attribute_orders import attribute
    from spark_jobs.ingest_landing import ingest
    from spark_jobs.session import get_spark

    def gate(stage: str, batches_of, ds: dt.date) -> float:
        started = time.perf_counter()
        run_gate(args.workdir, stage, ds, batches_of(spark, str(lake), config, ds))
        return time.perf_counter() - started

    spark = get_spark("bench")
    days = [d for d in config.calendar() if d <= config.freeze_ds]
    ingest_times: dict[dt.date, float] = {}
    gate_times: dict[dt.date, float] = {}
    with PeakMemory() as ingest_peak:
        for ds in days:
            started = time.perf_counter()
            ingest(spark, str(landing), str(lake), config, ds)
            ingest_times[ds] = time.perf_counter() - started
            gate_times[ds] = gate("landing", landing_batches, ds)
            print(f"  ingest {ds}: {ingest_times[ds]:.0f}s, landing gate {gate_times[ds]:.1f}s",
                  flush=True)
    with PeakMemory() as attribute_peak:
        started = time.perf_counter()
        attribute(spark, str(lake), config, config.freeze_ds)
        attribute_seconds = time.perf_counter() - started
    attribution_gate = gate("attribution", attribution_batches, config.freeze_ds)
    busiest = max(ingest_times, key=ingest_times.get)
    print(f"machine: {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; groups: {args.groups:,}")
    print(f"ingest: {len(days)} dates in {sum(ingest_times.values()):.0f}s "
          f"(slowest {busiest}: {ingest_times[busiest]:.0f}s), "
          f"peak RSS {ingest_peak.peak / 2**30:.1f} GiB")
    print(f"attribute (freeze date, whole lake): {attribute_seconds:.0f}s, "
          f"peak RSS {attribute_peak.peak / 2**30:.1f} GiB")
    landing_gates = sum(gate_times.values())
    print(f"landing gates: {landing_gates:.0f}s, {landing_gates / sum(ingest_times.values()):.0%}"
          f" of ingest ({busiest}: {gate_times[busiest]:.1f}s, "
          f"{gate_times[busiest] / ingest_times[busiest]:.0%})")
    print(f"attribution gate (freeze date): {attribution_gate:.1f}s, "
          f"{attribution_gate / attribute_seconds:.0%} of the attribution")
    return 0


if __name__ == "__main__":
    sys.exit(main())
