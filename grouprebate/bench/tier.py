"""One tier of the benchmark, measured in a process of its own.

    python -m grouprebate.bench.tier --landing L --workdir W --config C --out tier.json

A process per tier gives each tier a fresh JVM and a fresh Python heap: a JVM keeps the
heap it has grown, so a second tier in the same one would inherit the first's peak.
The run date's stages follow the nightly order (docs/pipeline.md, "Benchmark"): every
calendar date is ingested in turn, each date up to the freeze followed by its landing
gate; on the freeze date the Spark attribution, its gate, the DuckDB peer over the same
lake and the row-for-row comparison, the dbt build, the marts gate and the freeze date's
export; on the last calendar date its attribution, dbt build, marts gate and the export
of every later date. The peak day's night runs whole, as the DAG runs it: ingest,
landing gate, attribution, its gate, the dbt build and the marts gate (no export before
the draw), each a stage of its own and together `peak_day_night`. As in the DAG, the
landing and attribution gates render their Data Docs pages only and the marts and exports
gates rebuild the index.
`--attribution-only` (the skew run, and `grouprebate bench
--attribution-only`) stops after the comparison. `--paired-with LAKE` (the skew run) then
times the freeze attribution of that lake (the plain campaign's) and of this one in turns,
in the same session: a slowdown read from two processes measured minutes apart swings with
the machine's hour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from grouprebate.bench.measure import GIB, Recorder, event_log_of
from grouprebate.config import CampaignConfig, load_config
from grouprebate.contract import SOURCES
from grouprebate.paths import RunPaths

# Stage names: the results' keys, and the stages the quality gates guard.
INGEST_PEAK_DAY = "ingest_peak_day"
INGEST_CALENDAR = "ingest_calendar"
INGEST_AFTER_FREEZE = "ingest_after_freeze"
ATTRIBUTION_SPARK = "attribution_spark"
ATTRIBUTION_DUCKDB = "attribution_duckdb"
EQUALITY_CHECK = "equality_check"
ATTRIBUTION_LAST_DATE = "attribution_last_date"
DBT_PARSE = "dbt_parse"
DBT_BUILD_FREEZE = "dbt_build_freeze"
DBT_BUILD_LAST = "dbt_build_last"
EXPORT = "export"
ATTRIBUTION_PEAK_DAY = "attribution_peak_day"
DBT_BUILD_PEAK_DAY = "dbt_build_peak_day"
PEAK_DAY_NIGHT = "peak_day_night"
GUARDED = {  # gate stage -> the stage it guards
    "landing_gate_calendar": INGEST_CALENDAR,
    "landing_gate_peak_day": INGEST_PEAK_DAY,
    "attribution_gate": ATTRIBUTION_SPARK,
    "attribution_gate_peak_day": ATTRIBUTION_PEAK_DAY,
    "marts_gate_peak_day": DBT_BUILD_PEAK_DAY,
    "marts_gate_freeze": DBT_BUILD_FREEZE,
    "marts_gate_last": DBT_BUILD_LAST,
    "exports_gate": EXPORT,
}
# Freeze attributions of each campaign in the skew run's paired timing.
PAIRED_RUNS = 3
# The DuckDB peer runs this many times, each on a connection of its own, and its time is
# the median: a single run of a few seconds swings with the machine several-fold
# (benchmarks/results/README.md), and a slow peer would flatter the Spark / DuckDB ratio.
# Runs stop early once they have taken PEER_RUNS_BUDGET_S together (the 30M and 100M tiers).
PEER_RUNS = 3
PEER_RUNS_BUDGET_S = 15 * 60
LANDING_ROWS, LAKE_ROWS, PAYOUT_ROWS = "landing rows", "lake rows up to the date", "payouts"
# Memory the DuckDB peer leaves to the rest of the machine (this process, the page cache
# the lake's reads need) when it sets its limit.
PEER_HEADROOM = 2 * GIB


def peak_day(config: CampaignConfig) -> dt.date:
    """The last accumulation day (11-11 in 2018), where the generator puts the purchase peak."""
    return (config.accumulation_end - dt.timedelta(microseconds=1)).astimezone(config.tz).date()


def bench_config(path: Path) -> CampaignConfig:
    """The campaign config with the public demo secrets where the file names variables:
    a benchmark draws and exports like a run, and is never a real campaign."""
    from grouprebate.cli import DEMO_SECRETS

    names = load_config(path, need_seed=False)
    return load_config(path, env={**os.environ, names.draw_seed_env: DEMO_SECRETS["draw seed"],
                                  names.pseudonym_key_env: DEMO_SECRETS["pseudonym key"]})


def start_spark(events: Path):
    """The jobs' own local session (spark_jobs.session.get_spark), with Spark's event log
    switched on through spark-submit's arguments, since the builder's settings stay the
    jobs' own: the log is where the tasks' spill is read back from."""
    if os.environ.get("SPARK_REMOTE"):
        raise RuntimeError("the benchmark measures a local Spark session (its JVM's memory "
                           "and its event log); unset SPARK_REMOTE")
    events.mkdir(parents=True)
    os.environ.setdefault("SPARK_MASTER", f"local[{os.cpu_count() or 2}]")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell").removesuffix("pyspark-shell")
    # One plain JSON-lines file: Spark 4 rolls and compresses its event logs by default.
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"{submit}--conf spark.eventLog.enabled=true --conf spark.eventLog.rolling.enabled=false "
        f"--conf spark.eventLog.compress=false "
        f"--conf spark.eventLog.dir={events.resolve().as_uri()} pyspark-shell")
    from spark_jobs.session import get_spark

    spark = get_spark("grouprebate-bench")
    spark.sparkContext.setLogLevel("WARN")
    return spark


def lake_rows(lake: Path, ds: dt.date, sources: list[str] | None = None) -> int:
    """Rows of the lake's source tables in partitions up to ds (what the jobs read)."""
    import duckdb

    total = 0
    with duckdb.connect() as con:
        for name in sources or list(SOURCES):
            if not any(Path(lake, name).glob("ds=*/*.parquet")):
                continue
            total += con.execute(
                f"select count(*) from read_parquet('{lake}/{name}/*/*.parquet', "
                "hive_partitioning = true) where ds <= ?", [ds]).fetchone()[0]
    return total


def measure_tier(landing: Path, workdir: Path, config: CampaignConfig,
                 attribution_only: bool = False, paired_with: Path | None = None,
                 ) -> dict[str, Any]:
    """Run the tier's stages on a fresh work directory; the figures of every stage."""
    from expectations.attribution import attribution_batches
    from expectations.exports import export_batches
    from expectations.gate import run_gate
    from expectations.landing import landing_batches
    from expectations.marts import marts_batches
    from grouprebate.publish.payouts import publish_payouts, stage_payouts
    from grouprebate.warehouse.dbt_runner import build, build_env, parsed_manifest
    from grouprebate.warehouse.marts import duckdb_query
    from spark_jobs.attribute_orders import attribute
    from spark_jobs.ingest_landing import ingest

    shutil.rmtree(workdir, ignore_errors=True)
    paths = RunPaths.checked(landing, workdir)
    workdir.mkdir(parents=True)
    lake = paths.lake
    spark = start_spark(workdir / "spark-events")
    rec = Recorder()
    freeze, peak, last = config.freeze_ds, peak_day(config), config.calendar_end
    result: dict[str, Any] = {
        "spark_driver_memory": spark.conf.get("spark.driver.memory", None),
        "spark_shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions", None),
    }
    manifest = None

    def build_marts(ds: dt.date, stage: str, gate: str, *night: str) -> None:
        with rec.measure(stage, *night) as window:
            build(config, ds, lake, warehouse=paths.warehouse, unit_tests=False,
                  extra_args=["--no-write-json"], manifest=manifest)
        rec.add_rows(LAKE_ROWS, lake_rows(lake, ds), stage)
        with rec.measure(gate, *night):
            run_gate(workdir, "marts", ds, marts_batches(paths.warehouse, workdir, config, ds))
        print(f"  dbt build {ds}: {window.seconds:.1f}s", flush=True)

    def export(dates: list[dt.date]) -> None:
        for ds in dates:
            with rec.measure(EXPORT):
                control = stage_payouts(duckdb_query(paths.warehouse), config, ds,
                                        paths.staging, paths.exports)
            with rec.measure("exports_gate"):
                run_gate(workdir, "exports", ds, export_batches(
                    str(paths.staging), str(paths.exports), config, ds,
                    duckdb_query(paths.warehouse)))
            with rec.measure(EXPORT):
                publish_payouts(paths.staging, config, ds, paths.exports)
            rec.add_rows(PAYOUT_ROWS, sum(b["row_count"] for b in control["batches"]), EXPORT)

    for ds in config.calendar():
        if attribution_only and ds > freeze:
            break
        names = [INGEST_CALENDAR if ds <= freeze else INGEST_AFTER_FREEZE]
        whole_night = not attribution_only and ds == peak < freeze
        night = [PEAK_DAY_NIGHT] if whole_night else []
        names += [INGEST_PEAK_DAY] if ds == peak else []
        names += night
        with rec.measure(*names) as window:
            counts = ingest(spark, str(landing), str(lake), config, ds)
        rec.add_rows(LANDING_ROWS, sum(c.rows for c in counts), *names)
        print(f"  ingest {ds}: {window.seconds:.1f}s", flush=True)
        if not attribution_only and ds <= freeze:
            gates = ["landing_gate_calendar"] + (["landing_gate_peak_day"] if ds == peak else [])
            with rec.measure(*gates, *night):
                run_gate(workdir, "landing", ds, landing_batches(spark, str(lake), config, ds),
                         index=False)
        if whole_night:
            with rec.measure(ATTRIBUTION_PEAK_DAY, PEAK_DAY_NIGHT):
                attribute(spark, str(lake), config, ds)
            with rec.measure("attribution_gate_peak_day", PEAK_DAY_NIGHT):
                run_gate(workdir, "attribution", ds,
                         attribution_batches(spark, str(lake), config, ds), index=False)
            build_marts(ds, DBT_BUILD_PEAK_DAY, "marts_gate_peak_day", PEAK_DAY_NIGHT)
        if ds == freeze:
            result.update(attribute_both(rec, spark, lake, config))
            if attribution_only:
                if paired_with:
                    result["paired_attribution"] = paired_attributions(
                        spark, paired_with, lake, config, PAIRED_RUNS)
                break
            with rec.measure("attribution_gate"):
                run_gate(workdir, "attribution", ds,
                         attribution_batches(spark, str(lake), config, ds), index=False)
            with rec.measure(DBT_PARSE):
                manifest = parsed_manifest(config, ds, build_env(lake, paths.warehouse))
            build_marts(ds, DBT_BUILD_FREEZE, "marts_gate_freeze")
            export([ds])
        if ds == last:
            with rec.measure(ATTRIBUTION_LAST_DATE):
                attribute(spark, str(lake), config, ds)
            build_marts(ds, DBT_BUILD_LAST, "marts_gate_last")
            export([d for d in config.calendar() if freeze < d <= last])
    spark.stop()
    rec.add_spill(event_log_of(workdir / "spark-events"))
    result["spill_gib"] = round(rec.spill_disk / GIB, 3)
    result["orders_in_lake_to_freeze"] = lake_rows(lake, freeze, ["orders"])
    result["stages"] = rec.stages
    return result


def peer_connection(spill: Path) -> Any:
    """The DuckDB peer's connection: its memory limit is what the machine has available
    now, less PEER_HEADROOM, and past it DuckDB spills to `spill`.

    The Spark JVM keeps its heap while the peer runs. DuckDB's own default, 80% of the
    machine's memory, does not know that: on a large tier the two together would outgrow
    the machine and the kernel would kill the run, where a limit only makes the peer spill.
    """
    import duckdb
    import psutil

    limit = max(psutil.virtual_memory().available - PEER_HEADROOM, GIB)
    return duckdb.connect(config={"memory_limit": f"{limit // 2**20}MiB",
                                  "temp_directory": str(spill)})


def attribute_both(rec: Recorder, spark, lake: Path, config: CampaignConfig) -> dict[str, Any]:
    """The freeze date's attribution by the Spark job and by the DuckDB peer over the
    same lake (PEER_RUNS times), then the row-for-row comparison of their outputs."""
    from grouprebate.bench.peer import attribute_duckdb, differences
    from spark_jobs.attribute_orders import attribute

    ds = config.freeze_ds
    with rec.measure(ATTRIBUTION_SPARK) as spark_window:
        attribute(spark, str(lake), config, ds)
    peer_seconds = 0.0
    for run in range(PEER_RUNS):
        con = peer_connection(lake.parent / "duckdb-spill")
        try:
            with rec.measure(ATTRIBUTION_DUCKDB) as peer_window:
                attribute_duckdb(con, lake, config, ds)
            peer_seconds += peer_window.seconds
            if run == PEER_RUNS - 1 or peer_seconds >= PEER_RUNS_BUDGET_S:
                with rec.measure(EQUALITY_CHECK):
                    found = differences(con, lake, ds)
                break
        finally:
            con.close()
    runs = rec.repeated(ATTRIBUTION_DUCKDB)
    rec.add_rows(LAKE_ROWS, lake_rows(lake, ds), ATTRIBUTION_SPARK, ATTRIBUTION_DUCKDB)
    print(f"  attribution {ds}: Spark {spark_window.seconds:.1f}s, DuckDB "
          f"{rec.stage(ATTRIBUTION_DUCKDB).seconds:.1f}s (median of {runs}), "
          f"{'equal' if not found else 'DIFFERENT'}", flush=True)
    return {"results_equal": not found, "differences": found, "attribution_duckdb_runs_s": runs}


def paired_attributions(spark, plain: Path, skewed: Path, config: CampaignConfig,
                        runs: int) -> dict[str, list[float]]:
    """Seconds of the freeze attribution of each lake, `runs` times, the two in turns
    (the first of each pair alternating). The freeze manifest is removed before each run,
    so each writes its snapshot as a first freeze does; both lakes are the benchmark's own."""
    from spark_jobs.attribute_orders import FREEZE_MANIFEST, attribute

    seconds: dict[str, list[float]] = {"plain_s": [], "skewed_s": []}
    for run in range(runs):
        pair = [("plain_s", plain), ("skewed_s", skewed)]
        for key, lake in pair if run % 2 == 0 else reversed(pair):
            Path(lake, FREEZE_MANIFEST).unlink(missing_ok=True)
            started = time.perf_counter()
            attribute(spark, str(lake), config, config.freeze_ds)
            seconds[key].append(round(time.perf_counter() - started, 2))
    print(f"  paired attributions: plain {seconds['plain_s']}, skewed {seconds['skewed_s']}",
          flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True,
                        help="the tier's run directory, emptied first")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where the figures go (JSON)")
    parser.add_argument("--attribution-only", action="store_true",
                        help="ingest up to the freeze date and compare the attributions only")
    parser.add_argument("--paired-with", type=Path, metavar="LAKE",
                        help="with --attribution-only: then time the freeze attribution of "
                             "LAKE and of this tier's lake in turns")
    args = parser.parse_args(argv)
    if args.paired_with and not args.attribution_only:
        parser.error("--paired-with times the attributions after --attribution-only's "
                     "comparison; give both")
    os.environ.setdefault("DBT_LOG_LEVEL", "warn")  # dbt's node lines stay in its log file
    config = bench_config(args.config)
    result = measure_tier(args.landing, args.workdir, config, args.attribution_only,
                          args.paired_with)
    cores = os.cpu_count() or 1
    result["stages"] = {name: stage.report(cores) for name, stage in result["stages"].items()}
    result["cores"] = cores
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
