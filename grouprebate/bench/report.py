"""The benchmark's results: the JSON other tools read (latest.json and a dated copy) and
the Benchmark section of benchmarks/results/README.md, rendered from the same dict.

Only the section between the bench markers is rewritten: the README also summarizes
the other measurements of benchmarks/results/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from statistics import median
from typing import Any

from grouprebate.bench.tier import (
    ATTRIBUTION_DUCKDB,
    ATTRIBUTION_SPARK,
    DBT_BUILD_FREEZE,
    DBT_BUILD_LAST,
    EXPORT,
    GUARDED,
    INGEST_CALENDAR,
    INGEST_PEAK_DAY,
    PEAK_DAY_NIGHT,
    PEER_RUNS,
    PEER_RUNS_BUDGET_S,
    peak_day,
)
from grouprebate.config import CampaignConfig

BEGIN = "<!-- bench:begin: rendered by `grouprebate bench` from latest.json -->"
END = "<!-- bench:end -->"
STAGE_KEYS = {  # the results' per-tier keys of the stage seconds
    "ingest_peak_day_s": INGEST_PEAK_DAY,
    "ingest_calendar_s": INGEST_CALENDAR,
    "attribution_spark_s": ATTRIBUTION_SPARK,
    "attribution_duckdb_s": ATTRIBUTION_DUCKDB,
    "dbt_build_freeze_s": DBT_BUILD_FREEZE,
    "dbt_build_last_s": DBT_BUILD_LAST,
    "export_s": EXPORT,
    "peak_day_night_s": PEAK_DAY_NIGHT,
}


def floor_seconds(rows: int, floor: dict) -> float:
    """The floor of a stage over `rows` input rows: one scan, one hash join and one
    aggregation of every row at this machine's DuckDB rates (bench.floor)."""
    return sum(rows / rate for rate in floor["rows_per_s"].values())


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a and b else None


def tier_record(name: str, campaign: dict, figures: dict, floor: dict) -> dict[str, Any]:
    """One entry of "tiers": the keys other tools read, then the detail."""
    stages = figures["stages"]
    for stage in stages.values():
        if stage["rows"] and stage["seconds"]:
            stage["x_floor"] = round(stage["seconds"] / floor_seconds(stage["rows"], floor), 1)
    seconds = {key: stages[stage]["seconds"] if stage in stages else None
               for key, stage in STAGE_KEYS.items()}
    spark_s, cores = seconds["attribution_spark_s"], figures["cores"]
    return {
        "tier": name,
        "orders": campaign["orders"],
        "landing_rows": campaign["landing_rows"],
        "ingest_peak_day_s": seconds["ingest_peak_day_s"],
        "ingest_calendar_s": seconds["ingest_calendar_s"],
        "attribution_spark_s": spark_s,
        "attribution_duckdb_s": seconds["attribution_duckdb_s"],
        "results_equal": figures["results_equal"],
        "peak_rss_gib": max(s["peak_rss_gib"]["jvm"] for s in stages.values()),
        "spill_gib": figures["spill_gib"],
        "groups": campaign["groups"],
        "seed": campaign["seed"],
        "spark_duckdb_ratio": _ratio(spark_s, seconds["attribution_duckdb_s"], 1),
        "attribution_orders_per_s_per_core": (
            round(figures["orders_in_lake_to_freeze"] / spark_s / cores) if spark_s else None),
        "ingest_peak_day_rows_per_s_per_core": stages[INGEST_PEAK_DAY]["rows_per_s_per_core"],
        "attribution_x_floor": stages[ATTRIBUTION_SPARK].get("x_floor"),
        **{key: value for key, value in seconds.items()
           if key.startswith(("dbt", "export", "peak_day_night"))},
        "peak_rss_python_gib": max(s["peak_rss_gib"]["python"] for s in stages.values()),
        "gate_shares": {gate: _ratio(stages[gate]["seconds"], stages[guarded]["seconds"], 3)
                        for gate, guarded in GUARDED.items() if gate in stages},
        "generate_s": campaign["generate_s"],
        "spark_driver_memory": figures["spark_driver_memory"],
        "spark_shuffle_partitions": figures["spark_shuffle_partitions"],
        "attribution_only": DBT_BUILD_FREEZE not in stages,
        "differences": figures["differences"],
        "attribution_duckdb_runs_s": figures["attribution_duckdb_runs_s"],
        "stages": stages,
    }


def summary_line(t: dict) -> str:
    """A tier in one console line, with the Spark / DuckDB ratio."""
    return (f"{t['tier']}: {t['orders']:,} orders; ingest peak day {t['ingest_peak_day_s']:.1f}s, "
            f"to the freeze {t['ingest_calendar_s']:.1f}s; attribution Spark "
            f"{t['attribution_spark_s']:.1f}s, DuckDB {t['attribution_duckdb_s']:.1f}s "
            f"(Spark / DuckDB {t['spark_duckdb_ratio']}x, "
            f"{'equal' if t['results_equal'] else 'DIFFERENT'}); peak RSS {t['peak_rss_gib']} GiB, "
            f"spill {t['spill_gib']} GiB")


def skew_record(plain: dict, campaign: dict, figures: dict) -> dict[str, Any]:
    """The "skew" entry: the freeze attribution of the plain tier's campaign beside the
    skewed one's, medians of the runs made in turns in one session (bench.tier
    paired_attributions); each tier's own first run is kept beside them."""
    stages = figures["stages"]
    paired = figures["paired_attribution"]
    plain_s, skewed_s = median(paired["plain_s"]), median(paired["skewed_s"])
    return {
        "orders": campaign["orders"],
        "attribution_plain_s": plain_s,
        "attribution_skewed_s": skewed_s,
        "tier": plain["tier"],
        "slowdown": _ratio(skewed_s - plain_s, plain_s, 3),
        "runs_in_turns": paired,
        "first_runs": {"plain_s": plain["attribution_spark_s"],
                       "skewed_s": stages[ATTRIBUTION_SPARK]["seconds"]},
        "results_equal": figures["results_equal"],
        "attribution_duckdb_s": stages[ATTRIBUTION_DUCKDB]["seconds"],
        "spill_gib": figures["spill_gib"],
        "differences": figures["differences"],
        "stages": stages,
    }


def machine() -> dict[str, Any]:
    """The machine and the versions the figures hold for."""
    from importlib.metadata import version
    from platform import python_version

    import psutil

    cpuinfo = Path("/proc/cpuinfo")
    model = next((line.split(":", 1)[1].strip() for line in
                  cpuinfo.read_text(encoding="utf-8").splitlines()
                  if line.startswith("model name")), None) if cpuinfo.is_file() else None
    java = (subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
            if shutil.which("java") else None)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": python_version(),
        "spark": version("pyspark"),
        "duckdb": version("duckdb"),
        "dbt_duckdb": version("dbt-duckdb"),
        "java": java.stderr.splitlines()[0] if java and java.stderr else None,
        "cpu_model": model,
    }


def code_state() -> dict[str, Any]:
    """The commit measured and the code files changed beside it: in a shared working tree
    the figures hold for what was on disk, not only for the commit."""
    from grouprebate.paths import REPO_ROOT

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False)
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "spark_jobs", "grouprebate", "dbt",
                  "expectations")
    return {"commit": git("rev-parse", "HEAD") or None,
            "uncommitted": [line[3:] for line in changed.splitlines()]}


def results(tiers: list[dict], skew: dict | None, floor: dict, failures: list[dict], *,
            config: CampaignConfig, command: str, default_tiers: list[str]) -> dict[str, Any]:
    return {
        "measurement": "bench",
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "command": command,
        "machine": machine(),
        "code": code_state(),
        "campaign": {"config": config.campaign_id, "peak_day": peak_day(config).isoformat(),
                     "freeze_ds": config.freeze_ds.isoformat(),
                     "calendar": [config.calendar_start.isoformat(),
                                  config.calendar_end.isoformat()]},
        "tiers": tiers,
        "skew": skew or {"orders": None, "attribution_plain_s": None,
                         "attribution_skewed_s": None, "note": "not measured (--skew)"},
        "floor": floor,
        "default_tiers": default_tiers,
        "failures": failures,
    }


def write(data: dict, folder: Path) -> list[Path]:
    """latest.json, its dated copy and the README's Benchmark section."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    written = [folder / "latest.json", folder / f"bench-{data['date']}.json"]
    for path in written:
        path.write_text(text, encoding="utf-8")
    readme = folder / "README.md"
    update_readme(readme, render(data))
    return [*written, readme]


def update_readme(path: Path, section: str) -> None:
    """Put the section between the markers, or before the README's first heading of
    level 2 the first time."""
    block = f"{BEGIN}\n{section.rstrip()}\n{END}\n"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    elif "\n## " in text:
        head, rest = text.split("\n## ", 1)
        text = f"{head}\n{block}\n## {rest}"
    else:
        text = f"{text}\n{block}" if text else block
    path.write_text(text, encoding="utf-8")


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def render(data: dict) -> str:
    """The README's Benchmark section: the table, the ratios, how to reproduce."""
    m, tiers, skew, floor = data["machine"], data["tiers"], data["skew"], data["floor"]
    peak = data["campaign"]["peak_day"][5:]
    lines = [
        "## Benchmark — [latest.json](latest.json)",
        "",
        f"`{data['command']}`, {data['date']}: {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, Spark {m['spark']}, DuckDB {m['duckdb']}. Seconds of wall "
        "time; memory in GiB. Each tier runs in a process of its own; stages in the nightly "
        "order (docs/pipeline.md, \"Benchmark\").",
        "",
        f"| tier | orders | landing rows | ingest {peak} | ingest to the freeze | "
        "attribution Spark | attribution DuckDB | Spark / DuckDB | equal | peak RSS (JVM) | "
        "spill | dbt freeze | dbt last | export |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in tiers:
        lines.append(
            f"| {t['tier']} | {_num(t['orders'])} | {_num(t['landing_rows'])} | "
            f"{_num(t['ingest_peak_day_s'])} | {_num(t['ingest_calendar_s'])} | "
            f"{_num(t['attribution_spark_s'])} | {_num(t['attribution_duckdb_s'])} | "
            f"{_num(t['spark_duckdb_ratio'])}× | {_num(t['results_equal'])} | "
            f"{_num(t['peak_rss_gib'])} | {_num(t['spill_gib'], 2)} | "
            f"{_num(t['dbt_build_freeze_s'])} | {_num(t['dbt_build_last_s'])} | "
            f"{_num(t['export_s'])} |")
    tried = {t["tier"] for t in tiers} | {f["tier"] for f in data["failures"]}
    missing = [name for name in data["default_tiers"] if name not in tried]
    if missing:
        lines += ["", f"Not run yet: {', '.join(missing)} (a default tier of `make bench`)."]
    for failure in data["failures"]:  # the error names its tier
        lines += ["", f"Failed: {failure['error']}"]
    rates = floor["rows_per_s"]
    lines += [
        "",
        "| tier | Spark / DuckDB | attribution orders/s per core | attribution × floor | "
        f"ingest {peak} rows/s per core | night of {peak} | quality gates / their stage |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tiers:
        shares = ", ".join(f"{gate.replace('_gate', '').replace('_', ' ')} {share:.0%}"
                           for gate, share in t["gate_shares"].items() if share is not None)
        lines.append(f"| {t['tier']} | {_num(t['spark_duckdb_ratio'])}× | "
                     f"{_num(t['attribution_orders_per_s_per_core'])} | "
                     f"{_num(t['attribution_x_floor'])}× | "
                     f"{_num(t['ingest_peak_day_rows_per_s_per_core'])} | "
                     f"{_num(t['peak_day_night_s'])} | {shares} |")
    lines += [
        "",
        f"Floor of this machine (DuckDB, {floor['rows']:,} rows, {floor['threads']} threads, "
        f"best of three): scan {rates['scan'] / 1e6:,.0f}M rows/s, hash join "
        f"{rates['hash_join'] / 1e6:,.0f}M rows/s, aggregation "
        f"{rates['aggregation'] / 1e6:,.0f}M rows/s. A stage's floor is one scan, one hash "
        "join and one aggregation of each of its input rows at these rates; \"× floor\" is "
        "its time over that.",
        "",
    ]
    if skew.get("attribution_skewed_s") is not None:
        lines.append(
            f"Skew (`generate --skew`: one item in about a quarter of the shares, one "
            f"(group, item) pair shared all through the peak day), tier {skew['tier']}: "
            f"attribution {_num(skew['attribution_plain_s'])} s plain, "
            f"{_num(skew['attribution_skewed_s'])} s skewed ({skew['slowdown']:+.0%}; medians "
            f"of {len(skew['runs_in_turns']['plain_s'])} freeze attributions of each "
            f"campaign in turns, in one session); "
            f"peer equal: {_num(skew['results_equal'])}.")
    else:
        lines.append("Skew: not measured (`--skew`).")
    lines += [
        "",
        "Peak RSS is the largest resident size of the Spark JVM (the local session runs "
        "its executors in the driver JVM), sampled every 0.2 s; the Python process's is in "
        "the JSON (`peak_rss_python_gib`, and per stage). Spill is the disk bytes spilled "
        "by Spark's tasks, read from the session's event log (`spark.eventLog.enabled`, "
        "the history server's format) and credited to the stage during which each task "
        "finished. The ingest and attribution rates count landing rows and the lake's "
        f"orders up to the freeze date. The DuckDB peer runs {PEER_RUNS} times, each on a "
        f"connection of its own (fewer once its runs take {PEER_RUNS_BUDGET_S // 60} minutes "
        "together), and its time is their median (`attribution_duckdb_runs_s`): one run "
        "swings with the machine's hour. The night of the peak day is its whole nightly "
        "run: ingest, landing gate, attribution, attribution gate, dbt build and marts "
        "gate (no export before the draw).",
        "",
        "Reproduce:",
        "",
        "    make bench                       # tiers 1M and 10M, and the skew run at 1M",
        "    make bench BENCH_TIERS=30M       # or 100M: on request",
        "    .venv/bin/grouprebate bench --tier 1M --skew --workdir work/bench",
        "",
        "Campaigns are generated once under the work directory and reused; "
        "`SPARK_DRIVER_MEMORY` sets the JVM's heap.",
    ]
    return "\n".join(textwrap.fill(line, 88, break_on_hyphens=False)
                     if line[:1] not in ("|", " ", "") else line for line in lines)
