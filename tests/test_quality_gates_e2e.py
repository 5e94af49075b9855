"""End to end: a landing day over the bad-row threshold stops at the landing gate, leaves
earlier dates' marts and exports alone, and runs once its files are fixed."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from grouprebate.config import load_config
from grouprebate.demo.generator import generate
from tests.e2e_campaign import CONFIG, exports_snapshot, marts_snapshot

pytestmark = pytest.mark.e2e
FIRST, BAD, NEXT = dt.date(2018, 11, 9), dt.date(2018, 11, 10), dt.date(2018, 11, 11)


def run(root: Path, *dates: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grouprebate.cli", "run", "--landing", str(root / "landing"),
               "--config", str(CONFIG), "--workdir", str(root / "work"), *dates]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "AIRFLOW"))}
    env["GROUPREBATE_PSEUDONYM_KEY"] = "e2e-key"
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)


def test_a_bad_landing_day_fails_at_the_gate_and_runs_once_fixed(tmp_path):
    generate(tmp_path / "landing", groups=20, seed=5, config=load_config(CONFIG))
    first = run(tmp_path, "--through", str(FIRST))
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    warehouse, exports = tmp_path / "work" / "warehouse.duckdb", tmp_path / "work" / "exports"
    marts_before, exports_before = marts_snapshot(warehouse), exports_snapshot(exports)

    folder = tmp_path / "landing" / "orders" / f"ds={BAD}"
    good_lines = sum(len(p.read_text().splitlines()) for p in folder.glob("*.jsonl"))
    broken = folder / "zz-broken.jsonl"
    broken.write_text("not json\n" * max(2, good_lines // 10))
    failed = run(tmp_path, "--from", str(BAD), "--through", str(NEXT))
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert f"ds={BAD} failed at check_landing" in output
    assert "failed on lake.ingest_report" in output
    assert '"ingest_report__source": "orders"' in output and "ingest_report__bad_rate" in output
    assert f"ds={NEXT}" not in failed.stdout
    assert marts_snapshot(warehouse) == marts_before
    assert exports_snapshot(exports) == exports_before

    broken.unlink()
    fixed = run(tmp_path, "--from", str(BAD), "--through", str(NEXT))
    assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-4000:]
    assert fixed.stdout.count("success in") == 2
    assert re.search(r"quality: \d+ expectations run, 0 failed", fixed.stdout)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        landing = con.execute(
            "select run_ds, bool_and(is_success) from marts.dq_results where stage = 'landing' "
            "group by all order by all").fetchall()
    assert landing == [(FIRST, True), (BAD, True), (NEXT, True)]
