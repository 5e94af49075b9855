"""A query on the marts gives the same Python values and types from DuckDB and Postgres,
so a file written from either warehouse has the same bytes.

Skipped, saying why, when no PostgreSQL server answers.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets

import pytest

from grouprebate.warehouse import WarehouseError
from grouprebate.warehouse.marts import (
    duckdb_query,
    postgres_query,
    warehouse_frame,
    warehouse_target,
)
from grouprebate.warehouse.postgres_load import pg_connect_kwargs

psycopg2 = pytest.importorskip("psycopg2")
pytestmark = pytest.mark.postgres

ROWS = [("g'1", 5000000, "2018-11-12 08:00:00+00", "2018-11-12", True),
        ("g?2", 7, "2018-11-13 23:59:59.5+00", "2018-11-13", False),
        ("g%3", 0, None, None, None)]
# `?` parameters, `%` and `?` inside quotes, a sum of bigints, timestamps with time zone.
SQL = ("select group_id, amount_fen, paid_at, ds, is_winner, "
       "sum(amount_fen) over () as total_fen, '?%' as literal "
       "from marts.t where amount_fen >= ? order by group_id")


@pytest.fixture
def warehouses(tmp_path):
    """The same table marts.t in a DuckDB file and in a Postgres schema of its own."""
    import duckdb

    kwargs = pg_connect_kwargs()
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers on {kwargs['host']}:{kwargs['port']}: {exc}")
    conn.autocommit = True
    prefix = f"q{os.getpid()}_{secrets.token_hex(3)}_"
    create = ("create table {s}.t (group_id text, amount_fen bigint, paid_at timestamptz, "
              "ds date, is_winner boolean)")
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(create.format(s="marts"))
        con.executemany("insert into marts.t values (?, ?, ?, ?, ?)", ROWS)
    try:
        with conn.cursor() as cur:
            cur.execute(f'create schema "{prefix}marts"')
            cur.execute(create.format(s=f'"{prefix}marts"'))
            cur.executemany(f'insert into "{prefix}marts".t values (%s, %s, %s, %s, %s)', ROWS)
        yield warehouse, prefix
    finally:
        with conn.cursor() as cur:
            cur.execute(f'drop schema if exists "{prefix}marts" cascade')
        conn.close()


def test_postgres_rows_have_duckdbs_values_and_types(warehouses):
    warehouse, prefix = warehouses
    duck = duckdb_query(warehouse)(SQL, [0])
    pg = postgres_query(prefix)(SQL, [0])
    assert len(duck) == 3
    assert pg == duck
    for pg_row, duck_row in zip(pg, duck, strict=True):
        assert [type(v) for v in pg_row] == [type(v) for v in duck_row]
    paid_at = next(row[2] for row in pg if row[2] is not None)
    assert paid_at.utcoffset() == dt.timedelta(0)


def test_the_marts_gate_frame_has_duckdbs_dtypes(warehouses, monkeypatch):
    warehouse, prefix = warehouses
    sql = ("select ds, amount_fen, cast(amount_fen as double precision) / 2 as half, "
           "paid_at is null as no_time from marts.t")
    duck = warehouse_frame(warehouse, sql, [], env={})
    monkeypatch.setenv("GROUPREBATE_SCHEMA_PREFIX", prefix)
    pg = warehouse_frame(warehouse, sql, [], env={**os.environ,
                                                 "GROUPREBATE_DBT_TARGET": "postgres"})
    assert list(pg.dtypes.map(str)) == list(duck.dtypes.map(str))
    assert pg.sort_values("amount_fen").astype(str).values.tolist() == \
        duck.sort_values("amount_fen").astype(str).values.tolist()


def test_an_unknown_target_is_a_clear_error():
    assert warehouse_target({}) == "duckdb"
    with pytest.raises(WarehouseError, match="GROUPREBATE_DBT_TARGET='snowflake'"):
        warehouse_target({"GROUPREBATE_DBT_TARGET": "snowflake"})
