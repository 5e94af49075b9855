"""What two choices of the DuckDB builds cost a nightly `dbt build` (docs/warehouse.md):
the project's one-statement materialization against dbt-duckdb's own, and the file kept
open for a whole invocation (released after it) against `keep_open: false`.

`make bench` runs it (or `.venv/bin/python -m pytest -m bench -s tests/test_dbt_build_bench.py`);
it writes benchmarks/results/dbt_materialization.json. Each variant is a copy of the project
with one change, built on the fixture lake (tests/dbt_fixtures.py) for a date before the
freeze and one after. Every measurement is a process of its own that parses once and builds
the date ROUNDS times, as `grouprebate run` does; its first build (the process warming up)
is left out. The variants take turns, REPS times, so a slow hour hits them all.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from grouprebate.paths import REPO_ROOT

pytestmark = pytest.mark.bench

RESULTS = REPO_ROOT / "benchmarks" / "results" / "dbt_materialization.json"
DATES = ("2018-11-11", "2018-11-13")  # the day before the freeze, the day after it
REPS = int(os.environ.get("GROUPREBATE_BENCH_REPS", "3"))
ROUNDS = 3
NIGHTLY = ["build", "--quiet", "--exclude-resource-type", "unit_test", "--no-write-json"]
VARIANTS = {
    "committed": "the project as committed: one create-or-replace statement per model "
                 "(macros/materializations), the file kept open for an invocation and "
                 "released after it (dbt_runner.release_duckdb)",
    "dbt_duckdb_materializations": "macros/materializations removed: dbt-duckdb's own "
                                   "table and view materializations",
    "keep_open_false": "keep_open: false in profiles.yml: dbt-duckdb closes the file "
                       "whenever no node is running",
}


def variant_project(root: Path, name: str) -> Path:
    from grouprebate.warehouse.dbt_runner import DBT_PROJECT_DIR

    copy = root / f"project-{name}"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    if name == "dbt_duckdb_materializations":
        shutil.rmtree(copy / "macros" / "materializations")
    elif name == "keep_open_false":
        profiles = copy / "profiles.yml"
        text = profiles.read_text()
        assert "keep_open: true" in text, "profiles.yml no longer says keep_open: true"
        profiles.write_text(text.replace("keep_open: true", "keep_open: false"))
    return copy


def timed_builds(project: Path, lake: Path, path: Path, ds: str, rounds: int) -> list[float]:
    """In a process of its own: one parse, then `rounds` nightly builds; their seconds."""
    from grouprebate.config import load_config
    from grouprebate.warehouse import dbt_runner
    from tests import dbt_fixtures as fx
    from tests.conftest import CONFIG_PATH, TEST_ENV

    config = fx.fixture_config(load_config(CONFIG_PATH, env=TEST_ENV))
    env = dbt_runner.dbt_env(lake, path)
    build_vars = json.dumps(dbt_runner.build_vars(config, dt.date.fromisoformat(ds)))
    manifest = dbt_runner.run_dbt(["parse", "--quiet", "--vars", build_vars], env,
                                  project_dir=project).result
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        dbt_runner.run_dbt([*NIGHTLY, "--vars", build_vars], env, manifest=manifest,
                           project_dir=project)
        seconds.append(time.perf_counter() - start)
    return seconds


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), None)
    memory_kib = next(int(line.split()[1]) for line in
                      Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20),
            "cpu_model": cpu, "load_average_at_start": os.getloadavg()[0]}


def dumps(result: dict) -> str:
    """Indented JSON with each list of seconds on one line."""
    text = json.dumps(result, indent=2)
    return re.sub(r"\[\s+([-0-9.,\s]+?)\s+\]",
                  lambda m: "[" + ", ".join(m.group(1).replace(",", " ").split()) + "]",
                  text) + "\n"


def test_materialization_and_keep_open_build_times(tmp_path, config):
    from tests import dbt_fixtures as fx

    fixture = fx.fixture_config(config)
    lake = fx.build_fixture_lake(tmp_path / "lake", fixture)
    projects = {name: variant_project(tmp_path, name) for name in VARIANTS}
    seconds: dict[str, dict[str, list[float]]] = {n: {d: [] for d in DATES} for n in VARIANTS}
    about = machine()
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, maxtasksperchild=1) as pool:
        for name in VARIANTS:  # create every warehouse once: a nightly build replaces
            for ds in DATES:
                pool.apply(timed_builds, (projects[name], lake,
                                          tmp_path / name / ds / "warehouse.duckdb", ds, 1))
        for rep in range(REPS):
            for name in list(VARIANTS)[:: 1 if rep % 2 == 0 else -1]:
                for ds in DATES:
                    runs = pool.apply(timed_builds, (
                        projects[name], lake, tmp_path / name / ds / "warehouse.duckdb", ds,
                        ROUNDS))
                    seconds[name][ds] += [round(s, 3) for s in runs[1:]]
    about["load_average_at_end"] = os.getloadavg()[0]
    medians = {name: round(statistics.median(s for runs in by_date.values() for s in runs), 2)
               for name, by_date in seconds.items()}
    result = {
        "measurement": "dbt_materialization",
        "what": "a nightly dbt build (no unit tests, no JSON artifacts) of the fixture lake "
                "for three variants of the project: " + "; ".join(
                    f"{name}: {text}" for name, text in VARIANTS.items()),
        "date": dt.date.today().isoformat(),
        "machine": about,
        "versions": {"python": platform.python_version(),
                     **{p: version(p) for p in ("dbt-core", "dbt-duckdb", "duckdb")}},
        "command": ".venv/bin/python -m pytest -m bench -s tests/test_dbt_build_bench.py",
        "workload": f"tests/dbt_fixtures.py lake, run dates {' and '.join(DATES)}; "
                    f"{REPS} turns of the variants, each a process that parses once and "
                    f"builds {ROUNDS} times, the first build left out",
        "units": "seconds per build",
        "results": {"median": medians, "runs": seconds},
    }
    RESULTS.write_text(dumps(result))
    print(json.dumps(result["results"]["median"], indent=2))
    assert all(len(runs) == REPS * (ROUNDS - 1) for by in seconds.values() for runs in by.values())
