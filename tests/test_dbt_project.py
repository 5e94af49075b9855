"""The dbt project itself: the vars dbt_runner passes, the secrecy of the seed, the
documentation of every column, the tests on every key, the marts' contracts and owners,
where dbt writes, the warehouse file released after a build, and the loader's table list."""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys

import duckdb
import pytest

from grouprebate.config import ConfigError
from grouprebate.warehouse import dbt_runner as warehouse
from grouprebate.warehouse import postgres_load
from tests import dbt_fixtures as fx
from tests.dbt_fixtures import DbtHarness

KEY_TESTS = ("primary_key", "unique", "unique_combination_of_columns")


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> DbtHarness:
    return fx.shared_harness(tmp_path_factory, config)


@pytest.fixture(scope="module")
def docs(dbt) -> tuple[dict, dict]:
    """(manifest.json, catalog.json) of `dbt docs generate` on the built warehouse."""
    path = dbt.build(fx.LAST_DS)
    warehouse.generate_docs(dbt.config, fx.LAST_DS, dbt.lake, warehouse=path,
                            extra_args=dbt.dbt_args())
    target = warehouse.dbt_work_dir(path) / "target"
    return (json.loads((target / "manifest.json").read_text()),
            json.loads((target / "catalog.json").read_text()))


def test_vars_withhold_the_seed_before_the_draw(config):
    before = warehouse.build_vars(config, config.freeze_ds - dt.timedelta(days=1))
    assert "draw_seed" not in before
    assert before["draw_seed_sha256"] == hashlib.sha256(config.draw_seed.encode()).hexdigest()
    assert warehouse.build_vars(config, config.freeze_ds)["draw_seed"] == config.draw_seed


def test_vars_carry_every_rule_from_the_config(config):
    values = warehouse.build_vars(config, dt.date(2018, 11, 20))
    assert values["ds"] == "2018-11-20" and values["freeze_ds"] == "2018-11-12"
    assert dt.datetime.fromisoformat(values["draw_open"]) == config.draw_open
    assert (values["claim_window_hours"], values["payout_sla_hours"],
            values["red_packet_cap_fen"], values["draw_winner_count"]) == (120, 24, 5_000_000, 100)
    assert values["calendar_end"] == config.calendar_end.isoformat()
    assert values["campaign_id"] == "xhq-2018" and values["timezone"] == "Asia/Shanghai"


def test_lint_vars_are_the_vars_a_build_passes(config):
    """dbt/.sqlfluff compiles the project with one var per key of build_vars (make lint)."""
    sqlfluff = configparser.ConfigParser()
    sqlfluff.read(warehouse.DBT_PROJECT_DIR / ".sqlfluff")
    context = dict(sqlfluff["sqlfluff:templater:dbt:context"])
    assert set(context) == set(warehouse.build_vars(config, config.freeze_ds))
    assert context["draw_seed_sha256"] == hashlib.sha256(context["draw_seed"].encode()).hexdigest()


def test_a_run_on_or_after_the_draw_without_the_seed_is_refused(config):
    unseeded = dataclasses.replace(config, draw_seed=None)
    assert "draw_seed" not in warehouse.build_vars(unseeded, dt.date(2018, 11, 11))
    with pytest.raises(ConfigError, match="needs the draw seed"):
        warehouse.build_vars(unseeded, config.freeze_ds)


def test_compiled_sql_holds_no_seed_before_the_draw(dbt):
    before = fx.d("11-11")
    result = warehouse.run_dbt(
        ["compile", "--select", "int_winners_drawn",
         "--vars", json.dumps(warehouse.build_vars(dbt.config, before)), *dbt.dbt_args()],
        dbt.env(dbt.build(before)), manifest=dbt.manifest)
    compiled = result.result.results[0].node.compiled_code
    assert "and false  -- no seed, no draw" in compiled and fx.SEED not in compiled


def test_a_build_leaves_the_warehouse_free_for_readers(dbt):
    """publish/export open the marts read-only right after build_marts, in the same process."""
    path = dbt.build(fx.LAST_DS)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from marts.winner_list").fetchall() == [(4,)]


def test_a_build_leaves_the_warehouse_free_for_other_processes(dbt):
    """dbt_runner.release_duckdb closes the file when an invocation ends: another process
    can open it; it could not while this one held it open for writing. Fails when a new
    dbt-duckdb keeps the file after DuckDBConnectionManager.close_all_connections()."""
    path = dbt.build(fx.LAST_DS)
    reader = ("import duckdb, sys\n"
              "with duckdb.connect(sys.argv[1], read_only=True) as con:\n"
              "    print(con.execute('select count(*) from marts.winner_list').fetchone()[0])\n")
    done = subprocess.run([sys.executable, "-c", reader, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4"]


def tree(folder) -> dict[str, int]:
    """Every file under a folder with its mtime (nothing when the folder does not exist)."""
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_build_writes_target_and_logs_beside_the_warehouse_not_in_the_repository(dbt):
    in_repo = {name: tree(warehouse.DBT_PROJECT_DIR / name) for name in ("target", "logs")}
    path = dbt.copy_of(fx.LAST_DS, "work-dir")
    warehouse.build(dbt.config, fx.LAST_DS, dbt.lake, warehouse=path, unit_tests=False,
                    extra_args=dbt.dbt_args(), manifest=dbt.manifest)
    assert {name: tree(warehouse.DBT_PROJECT_DIR / name) for name in ("target", "logs")} \
        == in_repo
    beside = path.parent / "dbt"
    assert warehouse.dbt_work_dir(path) == beside
    assert (beside / "target" / "run_results.json").is_file()
    assert (beside / "target" / "compiled" / "grouprebate" / "models" / "marts"
            / "payouts.sql").is_file()
    assert "payouts" in (beside / "logs" / "dbt.log").read_text()


def relation_kind(path, schema: str, name: str) -> str | None:
    rows = fx.query(path, f"""
        select 'table' as kind from duckdb_tables()
        where schema_name = '{schema}' and table_name = '{name}'
        union all
        select 'view' from duckdb_views() where schema_name = '{schema}' and view_name = '{name}'
    """)
    return rows[0]["kind"] if len(rows) == 1 else f"{len(rows)} relations"


def test_a_rebuild_replaces_a_relation_of_the_other_kind_under_a_models_name(dbt):
    """On DuckDB a model is built with one `create or replace` (macros/materializations)."""
    path = dbt.copy_of(fx.LAST_DS, "other-kind")
    fx.execute(path, "drop table marts.payouts")
    fx.execute(path, "create view marts.payouts as select 1 as stale")
    fx.execute(path, "drop view staging.stg_lake__claims")
    fx.execute(path, "create table staging.stg_lake__claims as select 1 as stale")
    warehouse.build(dbt.config, fx.LAST_DS, dbt.lake, warehouse=path, unit_tests=False,
                    extra_args=dbt.dbt_args(), manifest=dbt.manifest)
    assert relation_kind(path, "marts", "payouts") == "table"
    assert relation_kind(path, "staging", "stg_lake__claims") == "view"
    assert fx.query(path, "select count(*) as n from marts.payouts") == \
        fx.query(dbt.build(fx.LAST_DS), "select count(*) as n from marts.payouts")


def rows_of(path, schema: str, name: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(f"select * from {schema}.{name}").fetchall(), key=repr)


def marts(path) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted: the warehouse as analysts see it."""
    names = [r["table_name"] for r in fx.query(
        path, "select table_name from duckdb_tables() where schema_name = 'marts'")]
    return {n: rows_of(path, "marts", n) for n in names}


def tagged(dbt, tag: str) -> dict[str, str]:
    """Models carrying a dbt tag: name -> schema."""
    if dbt.manifest is None:
        dbt.parse()
    return {n.name: n.schema for n in dbt.manifest.nodes.values()
            if n.resource_type == "model" and tag in n.tags}


def test_after_draw_models_are_empty_before_the_freeze_even_with_claims_landed(
        dbt, tmp_path, monkeypatch):
    """Why a run may leave them out of its builds before the freeze (warehouse.build)."""
    lake = tmp_path / "lake"
    shutil.copytree(dbt.lake, lake)
    before = fx.FREEZE_DS - dt.timedelta(days=1)
    early = [("c-early", "g01", "m10", fx.t("11-11 10:00"), before)]
    fx.write_table(lake, "claims", before,
                   fx._with_landing(fx._events(early, "claimed_at", before), "claims", before))
    fx.write_table(lake, "draws", before, fx._with_landing(
        fx._events([("d-early", "g01", "m01", fx.t("11-11 10:00"), before)], "drawn_at",
                   before), "draws", before))
    path = tmp_path / "run" / "warehouse.duckdb"
    path.parent.mkdir()
    monkeypatch.setattr(warehouse, "_LAST_SIDE", {})
    monkeypatch.setenv("GROUPREBATE_RUN_ID", "after-draw-test")

    def build() -> list[str]:
        result = warehouse.build(dbt.config, before, lake, warehouse=path, unit_tests=False,
                                 extra_args=dbt.dbt_args())  # parsed for this lake
        return sorted(r.node.name for r in result.result.results)

    whole = build()
    tagged_after_draw = tagged(dbt, warehouse.AFTER_DRAW_TAG)
    after_draw = set(tagged_after_draw)
    assert {"int_winners_drawn", "winner_list", "member_splits", "payouts"} <= after_draw
    assert {name: len(rows_of(path, schema, name))
            for name, schema in tagged_after_draw.items()} == dict.fromkeys(after_draw, 0)
    # the early claim was seen, and rejected
    assert len(rows_of(path, "marts", "fct_rejected_claims")) == 1
    before_marts = marts(path)
    again = build()
    assert after_draw <= set(whole) and not after_draw & set(again)
    assert marts(path) == before_marts


def test_frozen_models_are_the_same_on_every_date_from_the_freeze_on(
        dbt, tmp_path, monkeypatch):
    """Why a run may leave them out of its builds from the freeze on (warehouse.build):
    later dates bring draws, claims, late orders and members, and change none of them."""
    frozen = tagged(dbt, warehouse.FROZEN_TAG)
    assert {"int_group_pools_snapshotted", "fct_attributed_orders", "int_winners_drawn",
            "draw_audit"} <= set(frozen)
    at_freeze, last = dbt.build(fx.FREEZE_DS), dbt.build(fx.LAST_DS)
    for name, schema in frozen.items():
        assert rows_of(at_freeze, schema, name) == rows_of(last, schema, name), name
    assert rows_of(last, "intermediate", "int_winners_drawn")
    # A run that built them on the freeze date leaves them out later, with the same marts.
    path = tmp_path / "run" / "warehouse.duckdb"
    path.parent.mkdir()
    monkeypatch.setattr(warehouse, "_LAST_SIDE", {})
    monkeypatch.setenv("GROUPREBATE_RUN_ID", "frozen-test")
    for ds in (fx.FREEZE_DS, fx.LAST_DS):
        result = warehouse.build(dbt.config, ds, dbt.lake, warehouse=path, unit_tests=False,
                                 extra_args=dbt.dbt_args(), manifest=dbt.manifest)
    ran = {r.node.name for r in result.result.results}
    assert not set(frozen) & ran
    # Tests that read a model being built (the winner list) against a frozen one still run.
    assert {"assert_winners_are_eligible", "assert_red_packet_is_min_of_pool_and_cap",
            "relationships_winner_list_group_id__group_id__ref_group_pools_"} <= ran
    assert "unique_int_winners_drawn_draw_rank" not in ran
    assert marts(path) == marts(last)


def test_member_at_an_instant_is_written_once_in_a_macro():
    """The rules' "member at t" (docs/rules.md §4) lives in macros/is_member_at.sql;
    models call it, never spell it
    (the unit test test_splitters_are_the_members_at_the_trigger_instant pins its meaning)."""
    models = warehouse.DBT_PROJECT_DIR / "models"
    spelled = {p.name for p in models.rglob("*.sql")
               if "joined_at" in p.read_text() and not p.name.startswith("stg_")}
    callers = {p.name for p in models.rglob("*.sql") if "is_member_at(" in p.read_text()}
    assert spelled == set()
    assert {"int_triggers_observed.sql", "int_splitters_identified.sql"} <= callers


def test_loader_tables_are_the_declared_sources():
    tables = postgres_load.lake_tables()
    assert {t.path for t in tables} == set(fx.SCHEMAS)
    assert {t.pg_table for t in tables if t.path.startswith("attribution/")} == {
        "attribution__" + t.path.split("/")[1] for t in tables if t.path.startswith("attribution/")}


def test_every_model_and_column_is_documented(docs):
    manifest, catalog = docs
    models = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    assert len(models) >= 30
    undocumented = []
    for key, node in models.items():
        if not node["description"].strip():
            undocumented.append(node["name"])
        for column in catalog["nodes"][key]["columns"]:
            described = node["columns"].get(column, {}).get("description", "").strip()
            if not described:
                undocumented.append(f"{node['name']}.{column}")
    assert undocumented == []


def test_marts_are_in_schema_marts_and_layers_materialise_as_agreed(docs):
    manifest, _ = docs
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        layer = node["fqn"][1]
        assert node["schema"] == layer, node["name"]
        expected = "view" if layer == "staging" else "table"
        assert node["config"]["materialized"] == expected, node["name"]


def test_every_model_has_a_test_on_its_key(docs):
    manifest, _ = docs
    keyed = {
        node["attached_node"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("test_metadata")
        and node["test_metadata"]["name"] in KEY_TESTS
    }
    models = {k for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    assert models - keyed == set()


def test_every_mart_has_an_owner(docs):
    """dbt docs shows a model's group's owner as its Owner (docs/warehouse.md, Owners)."""
    manifest, _ = docs
    owners = {key: group["owner"] for key, group in manifest["groups"].items()}
    marts = {node["name"]: node for node in manifest["nodes"].values()
             if node["resource_type"] == "model" and node["fqn"][1] == "marts"}
    assert len(marts) >= 14
    unowned = [name for name, node in marts.items()
               if not node["group"]
               or not any(owners.get(f"group.grouprebate.{node['group']}", {}).values())]
    assert unowned == []
    finance = {name for name, node in marts.items() if node["group"] == "finance"}
    assert {"payouts", "forfeitures", "member_splits", "draw_audit"} <= finance


def test_the_contract_marts_declare_every_column_and_its_type(docs):
    manifest, catalog = docs
    for key, node in manifest["nodes"].items():
        if node["name"] not in fx.CONTRACT_MARTS:
            continue
        assert node["config"]["contract"]["enforced"], node["name"]
        built = list(catalog["nodes"][key]["columns"])
        assert list(node["columns"]) == built, node["name"]  # the tables keep the SQL's order
        untyped = [c for c, column in node["columns"].items() if not column["data_type"]]
        assert untyped == [], node["name"]


def test_a_build_that_breaks_a_marts_contract_fails_and_keeps_the_previous_table(
        dbt, tmp_path):
    """A column's type changed (payouts.amount_fen) or a column renamed (forfeitures.reason)
    in the SQL, not in the contract: the model fails; the built table stays as it was."""
    project = fx.project_breaking_contracts(tmp_path)
    path = dbt.copy_of(fx.LAST_DS, "broken-contract")
    before = {m: rows_of(path, "marts", m) for m in fx.CONTRACT_BREAKS}
    result = warehouse.run_dbt(
        ["run", "--select", *fx.CONTRACT_BREAKS,
         "--vars", json.dumps(warehouse.build_vars(dbt.config, fx.LAST_DS)), *dbt.dbt_args()],
        dbt.env(path), check=False, project_dir=project)
    outcomes = {r.node.name: (str(r.status), r.message or "") for r in result.result.results}
    assert set(outcomes) == set(fx.CONTRACT_BREAKS)
    for model, (status, message) in outcomes.items():
        assert status == "error" and "contract" in message, (model, status, message)
    assert {m: rows_of(path, "marts", m) for m in fx.CONTRACT_BREAKS} == before


def test_unit_tests_pin_the_draw_and_the_split(docs):
    manifest, _ = docs
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert {"int_winners_drawn", "int_splits_allocated"} <= tested


def test_every_unit_test_passes(dbt, docs):
    """The harness builds each date without them (they read no data): they run here."""
    manifest, _ = docs
    unit_tests = {u["name"] for u in manifest["unit_tests"].values()}
    assert unit_tests
    result = warehouse.run_dbt(
        ["test", "--resource-type", "unit_test",
         "--vars", json.dumps(warehouse.build_vars(dbt.config, fx.LAST_DS)), *dbt.dbt_args()],
        dbt.env(dbt.build(fx.LAST_DS)), check=False, manifest=dbt.manifest)
    outcomes = {r.node.name: str(r.status) for r in result.result.results}
    assert outcomes == dict.fromkeys(unit_tests, "pass")
