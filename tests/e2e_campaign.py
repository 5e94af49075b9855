"""The short end-to-end campaign, run once per test session and shared by every module
that checks what a whole run produced (marts, exports, reports, the Postgres twin).

The short campaign (tests/fixtures/short-campaign.yaml) keeps the 2018 rules on a
7-date calendar, so every phase runs: standings, the freeze and draw, the publication,
claims and payout files. `grouprebate run` runs in its own process, as a person would
type it, so it shares no Spark or Airflow state with the tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from grouprebate.config import load_config
from grouprebate.demo.generator import generate
from tests.test_dbt_marts import CONTRACT

CONFIG = Path(__file__).parent / "fixtures" / "short-campaign.yaml"
PUBLISH = dt.date(2018, 11, 13)

def marts_snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse)) as con:
        return {name: sorted(map(repr, con.execute(f"select * from marts.{name}").fetchall()))
                for name in CONTRACT}


def exports_snapshot(exports: Path) -> dict[str, str]:
    return {str(p.relative_to(exports)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(exports.rglob("*")) if p.is_file()}


def run_command(landing: Path, workdir: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    command = [sys.executable, "-m", "grouprebate.cli", "run", "--landing", str(landing),
               "--config", str(CONFIG), "--workdir", str(workdir), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "AIRFLOW"))}
    env["GROUPREBATE_PSEUDONYM_KEY"] = "e2e-key"
    return command, env


def run_campaign(root: Path, *dates: str) -> str:
    """`grouprebate run` over the short campaign; returns its output, fails with its tail."""
    command, env = run_command(root / "landing", root / "work", *dates)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


def run_short_campaign(root: Path) -> dict:
    """Generate the landing zone under root and run the calendar in two invocations (to
    the publish date, then the rest), keeping the marts as of the publish date."""
    config = load_config(CONFIG)
    generate(root / "landing", groups=60, seed=11, config=config)
    workdir = root / "work"
    first = run_campaign(root, "--through", str(PUBLISH))
    as_of_publish = marts_snapshot(workdir / "warehouse.duckdb")
    rest = run_campaign(root, "--from", str(PUBLISH + dt.timedelta(1)))
    return {"root": root, "workdir": workdir, "config": config, "output": first + rest,
            "as_of_publish": as_of_publish,
            "final": marts_snapshot(workdir / "warehouse.duckdb"),
            "exports": exports_snapshot(workdir / "exports")}
