"""`grouprebate bench`: the pipeline's stages timed at tiers of 1, 10, 30 and 100 million
orders, beside a DuckDB peer of the attribution and the floor of this machine.

Each tier's campaign is generated once under the work directory and reused; each tier
is then measured in a process of its own (bench.tier). The figures go to
benchmarks/results/latest.json, a dated copy, and the Benchmark section of
benchmarks/results/README.md (bench.report).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grouprebate.bench.floor import PROBE_ROWS, probe
from grouprebate.config import load_config
from grouprebate.paths import REPO_ROOT

TIERS = {"1M": 1_000_000, "10M": 10_000_000, "30M": 30_000_000, "100M": 100_000_000}
DEFAULT_TIERS = ("1M", "10M")
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
# Groups of the sample campaign that measures the generator's orders per group.
SAMPLE_GROUPS = 2_000
CAMPAIGN_FILE = "campaign.json"


class BenchFailed(RuntimeError):
    """A tier could not be measured, or the Spark job and the DuckDB peer disagree."""


@functools.cache
def orders_per_group(config_path: Path, seed: int) -> float:
    """Orders per group in the generator's proportions, from a sample campaign: the
    generator draws group sizes and purchases per member, so the ratio is its own."""
    from grouprebate.demo.generator import generate

    config = load_config(config_path, need_seed=False)
    with tempfile.TemporaryDirectory(prefix="grouprebate-bench-sample-") as tmp:
        summary = generate(Path(tmp) / "landing", SAMPLE_GROUPS, seed, config=config)
    return summary["rows"]["orders"] / SAMPLE_GROUPS


def groups_for(tier: str, config_path: Path, seed: int) -> int:
    """The group count whose campaign holds about the tier's orders."""
    return max(1, round(TIERS[tier] / orders_per_group(config_path, seed)))


def campaign(folder: Path, groups: int, seed: int, config_path: Path, skew: bool) -> dict:
    """The campaign of folder/landing, generated unless the same one is there already
    (its campaign.json, written once generation finished, says which it is)."""
    from grouprebate.demo.generator import generate

    config = load_config(config_path, need_seed=False)
    wanted = {"groups": groups, "seed": seed, "skew": skew, "campaign_id": config.campaign_id}
    marker = folder / CAMPAIGN_FILE
    if marker.is_file():
        known = json.loads(marker.read_text(encoding="utf-8"))
        if {key: known.get(key) for key in wanted} == wanted:
            print(f"{folder.name}: reusing the campaign in {folder / 'landing'}", flush=True)
            return {**known, "generate_s": None}
    shutil.rmtree(folder, ignore_errors=True)  # another campaign, or a generation cut short
    folder.mkdir(parents=True)
    print(f"{folder.name}: generating {groups:,} groups{' (skewed)' if skew else ''}",
          flush=True)
    started = time.perf_counter()
    summary = generate(folder / "landing", groups, seed, config=config, skew=skew)
    seconds = round(time.perf_counter() - started, 1)
    known = {**wanted, "orders": summary["rows"]["orders"],
             "landing_rows": summary["total_rows"], "generate_s": seconds}
    marker.write_text(json.dumps(known, indent=2) + "\n", encoding="utf-8")
    return known


def measure_in_process(folder: Path, config_path: Path, attribution_only: bool,
                       paired_with: Path | None = None) -> dict:
    """bench.tier in a child process (a fresh JVM and heap per tier); its figures."""
    out = folder / "tier.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "grouprebate.bench.tier", "--landing",
               str(folder / "landing"), "--workdir", str(folder / "run"), "--config",
               str(config_path), "--out", str(out)]
    if attribution_only:
        command.append("--attribution-only")
    if paired_with:
        command += ["--paired-with", str(paired_with)]
    if subprocess.run(command, check=False).returncode != 0 or not out.is_file():
        raise BenchFailed(f"{folder.name}: the measurement failed (see its output above; "
                          f"the run's files are in {folder / 'run'})")
    return json.loads(out.read_text(encoding="utf-8"))


def run_bench(tiers: list[str], workdir: Path, *, skew: bool = False, groups: int | None = None,
              seed: int = 2018, config_path: Path, results_dir: Path = RESULTS_DIR,
              floor_rows: int = PROBE_ROWS, attribution_only: bool = False,
              command: str = "") -> int:
    """Measure the tiers (or one campaign of `groups` groups), write the results; 1 when a
    tier failed or the two attributions differ, else 0. `attribution_only` stops each tier
    after the comparison of the attributions (no gates, dbt builds or exports)."""
    from grouprebate.bench import report

    workdir, config_path = workdir.resolve(), config_path.resolve()
    names = [f"groups-{groups}"] if groups else list(tiers)
    for name in names:
        if not groups and name not in TIERS:
            raise ValueError(f"unknown tier {name!r}; choose from {', '.join(TIERS)}")
    print("floor probe (DuckDB)", flush=True)
    floor = probe(floor_rows)
    config = load_config(config_path, need_seed=False)
    measured, failures, skewed = [], [], None

    def publish() -> None:
        """Write what is measured so far: a failure hours into a run keeps the rest."""
        results = report.results(measured, skewed, floor, failures, config=config,
                                 command=command, default_tiers=list(DEFAULT_TIERS))
        written = report.write(results, results_dir)
        print(f"results: {', '.join(str(p) for p in written)}", flush=True)

    for name in names:
        size = groups or groups_for(name, config_path, seed)
        try:
            known = campaign(workdir / name, size, seed, config_path, skew=False)
            figures = measure_in_process(workdir / name, config_path, attribution_only)
        except BenchFailed as exc:
            failures.append({"tier": name, "error": str(exc)})
            continue
        measured.append(report.tier_record(name, known, figures, floor))
        print(report.summary_line(measured[-1]), flush=True)
        publish()
    if skew and measured:
        plain = measured[0]
        folder = workdir / f"{plain['tier']}-skew"
        try:
            known = campaign(folder, plain["groups"], seed, config_path, skew=True)
            figures = measure_in_process(folder, config_path, True,
                                         paired_with=workdir / plain["tier"] / "run" / "lake")
            skewed = report.skew_record(plain, known, figures)
            print(f"skew ({plain['tier']}): attribution {skewed['attribution_plain_s']:.1f}s "
                  f"plain, {skewed['attribution_skewed_s']:.1f}s skewed (medians of "
                  f"{len(figures['paired_attribution']['plain_s'])} in turns)", flush=True)
        except BenchFailed as exc:
            failures.append({"tier": folder.name, "error": str(exc)})
    publish()
    unequal = [t["tier"] for t in measured if not t["results_equal"]]
    unequal += [skewed["tier"] + " skewed"] if skewed and not skewed["results_equal"] else []
    for failure in failures:
        print(f"error: {failure['error']}", file=sys.stderr)
    if unequal:
        print(f"error: the Spark attribution and the DuckDB peer differ at {', '.join(unequal)} "
              "(the differences are in the results file)", file=sys.stderr)
    return 1 if failures or unequal else 0
