"""The benchmark harness end to end on a tiny campaign (the results' shape, the Spark job
and the DuckDB peer agreeing), its README section, and the generator's skew knob.

The run stops after the attributions (`--attribution-only`) and leaves out the skew run:
the quality gates, dbt builds and exports after them, and a second JVM, would take this
test several minutes on a busy two-core machine; `make bench` runs them."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

import pytest

from grouprebate.bench.measure import Recorder
from grouprebate.bench.report import BEGIN, END, render, results, skew_record, update_readme
from grouprebate.bench.tier import PEER_RUNS
from grouprebate.demo.generator import default_config, generate
from grouprebate.demo.group import ALL_DAY_GROUP
from grouprebate.demo.world import World
from tests.landing_helpers import Campaign, read_landing

ROOT = Path(__file__).resolve().parents[1]
SHORT_CAMPAIGN = ROOT / "tests" / "fixtures" / "short-campaign.yaml"
SHAPE = {
    "machine": {"cores", "memory_gib", "python", "spark", "duckdb"},
    "tiers": {"orders", "landing_rows", "ingest_peak_day_s", "ingest_calendar_s",
              "attribution_spark_s", "attribution_duckdb_s", "results_equal", "peak_rss_gib",
              "spill_gib"},
    "skew": {"orders", "attribution_plain_s", "attribution_skewed_s"},
}


@pytest.fixture(scope="module")
def bench_results(tmp_path_factory) -> Path:
    """`grouprebate bench` on the end-to-end test's campaign (60 groups of the week-long
    calendar): every stage of every date, the freeze's attribution by both, the exports;
    one shuffle partition and no code generation, as for every tiny frame in the tests."""
    root = tmp_path_factory.mktemp("bench")
    results = root / "results"
    env = {**os.environ, "SPARK_SHUFFLE_PARTITIONS": "1",
           "PYSPARK_SUBMIT_ARGS": "--conf spark.sql.codegen.wholeStage=false "
                                  "--conf spark.sql.codegen.factoryMode=NO_CODEGEN pyspark-shell"}
    done = subprocess.run(
        [sys.executable, "-m", "grouprebate.cli", "bench", "--groups", "60", "--seed", "11",
         "--config", str(SHORT_CAMPAIGN), "--workdir", str(root / "work"),
         "--results", str(results), "--floor-rows", "100000"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results


@pytest.mark.e2e
def test_bench_writes_the_results_shape_and_the_two_attributions_agree(bench_results):
    data = json.loads((bench_results / "latest.json").read_text(encoding="utf-8"))
    assert SHAPE["machine"] <= set(data["machine"])
    assert SHAPE["skew"] <= set(data["skew"])
    assert len(data["tiers"]) == 1
    tier = data["tiers"][0]
    assert SHAPE["tiers"] <= set(tier)
    assert tier["results_equal"] is True and tier["differences"] == []
    assert all(isinstance(tier[key], int | float) and tier[key] >= 0
               for key in SHAPE["tiers"] - {"results_equal"})
    assert tier["orders"] > 0 and tier["peak_rss_gib"] > 0
    assert tier["ingest_calendar_s"] > tier["ingest_peak_day_s"] > 0
    # the peak day's whole night (11-11): ingest, landing gate, attribution, its gate,
    # dbt build, marts gate
    night = tier["stages"]["peak_day_night"]
    assert night["windows"] == 6
    assert tier["peak_day_night_s"] == night["seconds"] > tier["ingest_peak_day_s"]
    assert {"attribution_gate_peak_day", "marts_gate_peak_day"} <= set(tier["gate_shares"])
    assert tier["stages"]["ingest_calendar"]["windows"] == 4  # 11-09 to the freeze, 11-12
    # the peer's time is the median of its runs, not their sum
    runs = tier["attribution_duckdb_runs_s"]
    assert len(runs) == tier["stages"]["attribution_duckdb"]["windows"] == PEER_RUNS
    assert tier["attribution_duckdb_s"] == pytest.approx(median(runs), abs=0.01)
    # every export date from the freeze to the last (11-12 to 11-15), with its payouts
    assert tier["stages"]["export"]["windows"] == 2 * 4
    assert tier["stages"]["export"]["rows"] > 0
    assert (bench_results / f"bench-{data['date']}.json").read_text() == \
        (bench_results / "latest.json").read_text()


@pytest.mark.e2e
def test_bench_readme_section_holds_the_table(bench_results):
    readme = (bench_results / "README.md").read_text(encoding="utf-8")
    assert readme.count(BEGIN) == 1 and readme.count(END) == 1
    assert "| groups-60 |" in readme and "Spark / DuckDB" in readme
    assert "Not run yet: 1M, 10M" in readme


def test_readme_section_is_replaced_and_the_rest_is_kept(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Measurements\n\nIntro.\n\n## Other — [x.json](x.json)\n\nKept.\n")
    update_readme(readme, "## Benchmark\n\nfirst")
    update_readme(readme, "## Benchmark\n\nsecond")
    text = readme.read_text()
    assert text.startswith("# Measurements\n\nIntro.\n")
    assert "second" in text and "first" not in text
    assert f"{END}\n\n## Other" in text and text.endswith("Kept.\n")


def test_a_failed_tier_is_listed_once_as_failed_not_as_not_run():
    floor = {"rows": 10, "threads": 2,
             "rows_per_s": {"scan": 1e9, "hash_join": 1e8, "aggregation": 1e7}}
    error = "10M: the measurement failed (see its output above)"
    data = results([], None, floor, [{"tier": "10M", "error": error}], config=CONFIG,
                   command="grouprebate bench", default_tiers=["1M", "10M"])
    section = render(data)
    assert "Not run yet: 1M (a default tier" in section  # not 10M, which failed
    assert section.count("10M:") == 1 and f"Failed: {error}" in section


def test_the_skew_slowdown_is_read_from_the_runs_in_turns_not_the_first_runs():
    plain = {"tier": "1M", "attribution_spark_s": 20.0}
    stages = {"attribution_spark": {"seconds": 40.0}, "attribution_duckdb": {"seconds": 9.0}}
    figures = {"stages": stages, "results_equal": True, "spill_gib": 0.0, "differences": [],
               "paired_attribution": {"plain_s": [30.0, 24.0, 25.0],
                                      "skewed_s": [31.0, 36.0, 30.0]}}
    skew = skew_record(plain, {"orders": 10}, figures)
    assert (skew["attribution_plain_s"], skew["attribution_skewed_s"]) == (25.0, 31.0)
    assert skew["slowdown"] == 0.24  # not the first runs' +100%
    assert skew["first_runs"] == {"plain_s": 20.0, "skewed_s": 40.0}
    floor = {"rows": 10, "threads": 2,
             "rows_per_s": {"scan": 1e9, "hash_join": 1e8, "aggregation": 1e7}}
    section = render(results([], skew, floor, [], config=CONFIG, command="grouprebate bench",
                             default_tiers=[]))
    assert "25.0 s plain, 31.0 s skewed (+24%; medians of 3" in " ".join(section.split())


def test_a_repeated_stage_takes_the_median_of_its_runs():
    rec = Recorder()
    rec.stage("peer").windows += [(100.0, 101.0), (110.0, 119.0), (120.0, 122.0)]
    assert rec.repeated("peer") == [1.0, 9.0, 2.0]
    assert rec.stages["peer"].report(cores=2)["seconds"] == 2.0  # not the slow run, nor 12


def test_paired_timing_without_the_attribution_only_run_is_refused(tmp_path, capsys):
    from grouprebate.bench.tier import main

    with pytest.raises(SystemExit) as exit_:
        main(["--landing", str(tmp_path), "--workdir", str(tmp_path), "--config",
              "config/xhq-2018.yaml", "--out", str(tmp_path / "t.json"),
              "--paired-with", str(tmp_path)])
    assert exit_.value.code == 2 and "--attribution-only" in capsys.readouterr().err


def test_the_peer_spills_within_the_memory_the_machine_has_left(tmp_path, monkeypatch):
    """With 6 GiB available, the peer may hold 4 (PEER_HEADROOM is 2): DuckDB's default
    would take 80% of the whole machine, beside a JVM that keeps its heap."""
    from types import SimpleNamespace

    import psutil

    from grouprebate.bench import tier

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=6 * tier.GIB))
    with tier.peer_connection(tmp_path / "spill") as con:
        limit, spill = con.execute(
            "select current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchone()
    assert (limit, spill) == ("4.0 GiB", str(tmp_path / "spill"))


# --- the skew knob -----------------------------------------------------------------------

GROUPS, SEED = 300, 2018
CONFIG = default_config()
HOT_ITEM = f"i{World.sizes(GROUPS)[1]:08d}"
ALL_DAY = f"g{ALL_DAY_GROUP:08d}"


def shares(out: Path) -> list[dict]:
    return Campaign(read_landing(out, CONFIG), CONFIG).records("shares")


@pytest.fixture(scope="module")
def skewed_shares(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("skewed") / "landing"
    generate(out, GROUPS, SEED, workers=1, skew=True)
    return shares(out)


def test_skew_puts_one_item_in_about_a_quarter_of_the_shares(skewed_shares):
    others = [s for s in skewed_shares if s["group_id"] != ALL_DAY]
    share = sum(s["item_id"] == HOT_ITEM for s in others) / len(others)
    assert 0.2 <= share <= 0.3


def test_skew_shares_one_group_item_pair_all_through_the_peak_day(skewed_shares):
    peak_start = CONFIG.accumulation_end - dt.timedelta(days=1)
    pair = [s["shared_at"] for s in skewed_shares
            if s["group_id"] == ALL_DAY and s["item_id"] == HOT_ITEM]
    hours = {(t - peak_start) // dt.timedelta(hours=1) for t in pair
             if peak_start <= t < CONFIG.accumulation_end}
    assert hours == set(range(24))
    assert len(pair) > 5_000


def test_without_skew_the_hot_item_is_never_shared(tmp_path):
    generate(tmp_path / "plain", GROUPS, SEED, workers=1)
    assert all(s["item_id"] != HOT_ITEM for s in shares(tmp_path / "plain"))
