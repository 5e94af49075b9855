"""The same fixture built on PostgreSQL gives the same marts as on DuckDB, row for row.

Skipped, saying why, when no PostgreSQL server answers (GROUPREBATE_PG_HOST/_PORT,
default 127.0.0.1:5432). Each run uses its own schema prefix and drops its schemas.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator

import pytest

from grouprebate.warehouse import dbt_runner as warehouse
from grouprebate.warehouse import postgres_load
from tests import dbt_fixtures as fx
from tests.dbt_fixtures import DbtHarness, query
from tests.postgres_schemas import own_schemas

psycopg2 = pytest.importorskip("psycopg2")
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def dbt(tmp_path_factory, config) -> DbtHarness:
    return fx.shared_harness(tmp_path_factory, config)


@pytest.fixture(scope="module")
def pg(dbt) -> Iterator[tuple]:
    """(connection, schema prefix) of a warehouse built on Postgres from the fixture lake."""
    with own_schemas("t") as (conn, prefix):
        warehouse.build(dbt.config, fx.LAST_DS, dbt.lake, target="postgres",
                        schema_prefix=prefix, dbt_dir=dbt.root / "postgres",
                        extra_args=["--quiet"])
        yield conn, prefix


def pg_rows(pg: tuple, sql: str) -> list[dict]:
    conn, prefix = pg
    with conn.cursor() as cur:
        cur.execute(sql.format(p=prefix))
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def normalised(value):
    """One spelling per value across drivers: Decimal -> int/float, datetimes in UTC."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def table(records: list[dict]) -> list[tuple]:
    return sorted((tuple(normalised(v) for v in r.values()) for r in records), key=repr)


def test_every_mart_is_identical_on_duckdb_and_postgres(dbt, pg):
    duck = dbt.build(fx.LAST_DS)
    marts = [r["table_name"] for r in query(
        duck, "select table_name from information_schema.tables "
              "where table_schema = 'marts' order by table_name")]
    assert "payouts" in marts and "winner_list" in marts
    for mart in marts:
        expected = query(duck, f"select * from marts.{mart}")
        actual = pg_rows(pg, f'select * from "{{p}}marts".{mart}')
        assert list(actual[0] if actual else []) == list(expected[0] if expected else []), mart
        assert table(actual) == table(expected), mart


def test_postgres_draws_the_winners_python_computes(dbt, pg):
    audit = pg_rows(pg, 'select group_id, draw_digest, is_winner from "{p}marts".draw_audit')
    eligible = sorted(r["group_id"] for r in audit)
    for r in audit:
        assert r["draw_digest"] == fx.draw_digest(fx.SEED, r["group_id"])
    assert {r["group_id"] for r in audit if r["is_winner"]} == \
        set(fx.python_draw(fx.SEED, eligible, fx.WINNER_COUNT))


def test_loader_keeps_empty_strings_apart_from_nulls(pg):
    raws = pg_rows(pg, 'select reason, raw_line from "{p}staging".stg_lake__quarantine '
                       "where landing_source = 'draws' order by landing_line")
    assert raws == [{"reason": "unparseable line: not a JSON object", "raw_line": "{\ufffd"},
                    {"reason": "empty line", "raw_line": ""}]


def test_reloading_the_lake_keeps_the_staging_views(dbt, pg):
    counts = postgres_load.load_lake_into_postgres(dbt.lake, schema_prefix=pg[1]).rows
    assert counts["claims"] == len(fx.CLAIMS)
    assert counts["attribution__group_pools"] == 2 * len(fx.GROUPS)  # 11-11 and 11-12
    claims = pg_rows(pg, 'select count(*) as n from "{p}staging".stg_lake__claims')
    assert claims == [{"n": len(fx.CLAIMS)}]


def test_a_build_that_breaks_a_marts_contract_fails_on_postgres_too(dbt, pg, tmp_path):
    """The contracts hold on Postgres as on DuckDB (tests/test_dbt_project.py): the same
    broken copy of the project fails the same two marts, and their tables stay."""
    project = fx.project_breaking_contracts(tmp_path)
    before = {m: pg_rows(pg, f'select * from "{{p}}marts".{m}') for m in fx.CONTRACT_BREAKS}
    env = warehouse.dbt_env(dbt.lake, target="postgres", schema_prefix=pg[1],
                            dbt_dir=tmp_path / "dbt")
    result = warehouse.run_dbt(
        ["run", "--select", *fx.CONTRACT_BREAKS, "--quiet",
         "--vars", json.dumps(warehouse.build_vars(dbt.config, fx.LAST_DS))],
        env, check=False, project_dir=project)
    outcomes = {r.node.name: (str(r.status), r.message or "") for r in result.result.results}
    assert set(outcomes) == set(fx.CONTRACT_BREAKS)
    for model, (status, message) in outcomes.items():
        assert status == "error" and "contract" in message, (model, status, message)
    assert {m: pg_rows(pg, f'select * from "{{p}}marts".{m}') for m in fx.CONTRACT_BREAKS} \
        == before
