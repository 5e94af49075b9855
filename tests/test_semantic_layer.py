"""Metrics defined once (dbt/models/marts/semantic/) and lineage to every output
(dbt/models/exposures.yml): dbt's own parse validates them, and MetricFlow's answers on a
built warehouse equal the marts (the hand-built fixture lake, tests/dbt_fixtures.py)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dbt.parser.manifest import write_semantic_manifest

from grouprebate.report.metrics import HEADLINE_METRICS, Metrics, read_only_query
from grouprebate.warehouse import dbt_runner as warehouse
from tests import dbt_fixtures as fx

EXPOSURES = {"campaign_report", "payout_files", "public_winner_list", "draw_audit_files"}


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> fx.DbtHarness:
    return fx.parsed_harness(tmp_path_factory, config)


@pytest.fixture(scope="module")
def semantic_manifest(dbt, tmp_path_factory) -> Path:
    """The semantic manifest of the harness's parse, as dbt writes it to target/."""
    out = tmp_path_factory.mktemp("semantic")
    write_semantic_manifest(dbt.manifest, str(out))
    return out / "semantic_manifest.json"


def project_copy(root: Path) -> Path:
    copy = root / "dbt-project"
    shutil.copytree(warehouse.DBT_PROJECT_DIR, copy,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def test_dbt_parse_holds_every_campaign_metric_on_the_contract_marts(dbt):
    metrics = {m.name: m for m in dbt.manifest.metrics.values()}
    assert set(HEADLINE_METRICS) <= set(metrics)
    assert {metrics[n].type.value for n in ("conversion", "claim_rate")} == {"ratio"}
    models = {m.name: m.depends_on.nodes for m in dbt.manifest.semantic_models.values()}
    assert models["pools"] == ["model.grouprebate.group_pools"]
    assert models["payouts"] == ["model.grouprebate.payouts"]
    spines = [n for n in dbt.manifest.nodes.values() if getattr(n, "time_spine", None)]
    assert [n.name for n in spines] == ["metricflow_time_spine"]


def upstream(manifest, unique_id: str, seen: set[str] | None = None) -> set[str]:
    """Every node, metric or source an exposure (or node) depends on, transitively."""
    seen = set() if seen is None else seen
    node = (manifest.exposures.get(unique_id) or manifest.nodes.get(unique_id)
            or manifest.metrics.get(unique_id) or manifest.semantic_models.get(unique_id))
    for parent in getattr(getattr(node, "depends_on", None), "nodes", []):
        if parent not in seen:
            seen.add(parent)
            upstream(manifest, parent, seen)
    return seen


def test_exposures_trace_every_output_back_to_the_lake_sources(dbt):
    exposures = {e.name: e for e in dbt.manifest.exposures.values()}
    assert EXPOSURES <= set(exposures)
    for name in EXPOSURES:
        exposure = exposures[name]
        assert exposure.owner.name, name
        parents = upstream(dbt.manifest, exposure.unique_id)
        assert any(p.startswith("source.grouprebate.") for p in parents), name
    report = upstream(dbt.manifest, exposures["campaign_report"].unique_id)
    assert "metric.grouprebate.pools" in report and "model.grouprebate.claims_daily" in report
    assert "model.grouprebate.payouts" in upstream(dbt.manifest,
                                                   exposures["payout_files"].unique_id)


def test_dbt_parse_rejects_a_metric_of_a_measure_no_semantic_model_has(dbt, tmp_path):
    copy = project_copy(tmp_path)
    yml = copy / "models" / "marts" / "semantic" / "_semantic__models.yml"
    text = yml.read_text()
    assert text.count("      measure: red_packets_fen\n") == 1, "update the test"
    yml.write_text(text.replace("      measure: red_packets_fen\n",
                                "      measure: no_such_measure\n"))
    env = warehouse.dbt_env(dbt.lake, tmp_path / "warehouse.duckdb")
    result = warehouse.run_dbt(
        ["parse", "--vars", json.dumps(warehouse.build_vars(dbt.config, fx.LAST_DS))],
        env, check=False, project_dir=copy)
    assert not result.success
    log = (Path(env["DBT_LOG_PATH"]) / "dbt.log").read_text()
    assert "no_such_measure" in log


def test_a_metric_query_returns_the_pool_total_of_the_mart(dbt, semantic_manifest):
    path = dbt.build(fx.LAST_DS)
    metrics = Metrics(semantic_manifest, read_only_query(path))
    mart = fx.query(path, "select sum(pool_fen) as fen, sum(case when is_eligible then "
                          "pool_fen else 0 end) as eligible from marts.group_pools")[0]
    assert mart["fen"] > mart["eligible"] > 0
    assert metrics.query(["pools", "eligible_pools"]) == [
        {"pools": mart["fen"], "eligible_pools": mart["eligible"]}]
    by_validity = metrics.query(["pools"], ["group__is_valid"])
    assert len(by_validity) == 2 and sum(r["pools"] for r in by_validity) == mart["fen"]


def test_headline_metrics_equal_the_campaign_summary(dbt, semantic_manifest):
    path = dbt.build(fx.LAST_DS)
    headline = Metrics(semantic_manifest, read_only_query(path)).headline()
    (summary,) = fx.query(path, "select * from marts.campaign_summary")
    assert summary["paid_fen"] > 0 and summary["forfeited_fen"] > 0
    for metric, column in (("attributed_sales", "attributed_sales_fen"), ("pools", "pools_fen"),
                           ("eligible_pools", "eligible_pools_fen"),
                           ("red_packets", "red_packets_fen"), ("paid", "paid_fen"),
                           ("forfeited", "forfeited_fen")):
        assert headline[metric] == summary[column], metric
    assert round(headline["conversion"], 4) == float(summary["share_to_purchase_conversion"])
    assert headline["claim_rate"] == pytest.approx(summary["payouts"] / summary["splits"])


def test_mf_query_answers_offline_on_the_duckdb_warehouse(dbt, semantic_manifest, tmp_path):
    """The command docs/analysts.md gives: `mf query` in a dbt project whose target/ holds
    the run's semantic manifest, on a copy of the warehouse."""
    copy = project_copy(tmp_path)
    (copy / "target").mkdir()
    shutil.copyfile(semantic_manifest, copy / "target" / "semantic_manifest.json")
    path = dbt.copy_of(fx.LAST_DS, "mf-query")
    out = tmp_path / "pools.csv"
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path),
           "DBT_PROFILES_DIR": str(copy), "GROUPREBATE_WAREHOUSE": str(path),
           "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mf"), "query", "--metrics", "pools",
         "--group-by", "group__is_eligible", "--csv", str(out)],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and out.exists(), (done.stdout + done.stderr)[-3000:]
    rows = {r["group__is_eligible"]: int(r["pools"]) for r in csv.DictReader(out.open())}
    mart = {str(r["is_eligible"]): r["fen"] for r in fx.query(
        path, "select is_eligible, sum(pool_fen) as fen from marts.group_pools group by 1")}
    assert {k.lower(): v for k, v in rows.items()} == {k.lower(): v for k, v in mart.items()}
