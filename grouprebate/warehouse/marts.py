"""Reads of the built marts, for the files that leave the pipeline and the run's summary.

Every reader writes its SQL once, for both warehouses: the marts are named
`marts.<table>`, parameters are `?`, and a `Query` hands back the same Python types
from DuckDB and from Postgres, so an export's bytes do not depend on the warehouse.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grouprebate.warehouse import WarehouseError

Query = Callable[[str, Sequence[Any]], list[tuple]]
TARGETS = ("duckdb", "postgres")
TARGET_VAR = "GROUPREBATE_DBT_TARGET"


def duckdb_query(warehouse: Path) -> Query:
    """Queries on the DuckDB warehouse file, one connection each."""
    import duckdb

    def query(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with duckdb.connect(str(warehouse)) as con:
            return con.execute(sql, list(params)).fetchall()

    return query


# A quoted string or identifier, a `?` placeholder, or a `%`.
_SQL_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?|%""")


def _pyformat(sql: str) -> str:
    """DuckDB's `?` placeholders as psycopg2's `%s`; every `%`, in quotes too, doubled (a
    `?` in quotes stays)."""
    return _SQL_TOKENS.sub(
        lambda m: "%s" if m.group() == "?" else m.group().replace("%", "%%"), sql)


def _same_as_duckdb(value: Any) -> Any:
    """Postgres sums bigints into numeric (Decimal), DuckDB into hugeint (int): an
    integral Decimal is read as the int DuckDB gives."""
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _postgres_rows(sql: str, params: Sequence[Any], schema_prefix: str | None,
                   env: Mapping[str, str] | None) -> tuple[list[str], list[tuple]]:
    """Column names and rows of one query on the Postgres warehouse, in its own connection."""
    import psycopg2

    from grouprebate.warehouse.postgres_load import pg_connect_kwargs, schema_prefix_from_env

    prefix = schema_prefix_from_env(env) if schema_prefix is None else schema_prefix
    text = _pyformat(sql)
    if prefix:
        marts = '"' + f"{prefix}marts".replace('"', '""') + '".'
        text = re.sub(r"\bmarts\.", lambda _: marts, text)
    conn = psycopg2.connect(**pg_connect_kwargs(env), options="-c TimeZone=UTC")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(text, list(params))
            names = [column.name for column in cur.description]
            return names, [tuple(map(_same_as_duckdb, row)) for row in cur.fetchall()]
    finally:
        conn.close()


def postgres_query(schema_prefix: str | None = None,
                   env: Mapping[str, str] | None = None) -> Query:
    """Queries on the Postgres warehouse (the GROUPREBATE_PG_* variables), one connection
    each. With a schema prefix (GROUPREBATE_SCHEMA_PREFIX by default) `marts.` names the
    prefixed schema. Timestamps come back in UTC, as from DuckDB."""
    def query(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return _postgres_rows(sql, params, schema_prefix, env)[1]

    return query


def warehouse_target(env: Mapping[str, str] | None = None) -> str:
    """The warehouse the marts are built in and read from: $GROUPREBATE_DBT_TARGET, the
    variable dbt's profile reads too (default duckdb)."""
    env = os.environ if env is None else env
    target = env.get(TARGET_VAR) or "duckdb"
    if target not in TARGETS:
        raise WarehouseError(f"{TARGET_VAR}={target!r} is not a warehouse target; use one of "
                             f"{', '.join(TARGETS)}")
    return target


def warehouse_query(warehouse: Path, env: Mapping[str, str] | None = None) -> Query:
    """Queries on the marts of the configured target: the DuckDB file `warehouse`, or
    Postgres (where the file is not used)."""
    if warehouse_target(env) == "postgres":
        return postgres_query(env=env)
    return duckdb_query(warehouse)


def warehouse_frame(warehouse: Path, sql: str, params: Sequence[Any] = (),
                    env: Mapping[str, str] | None = None) -> Any:
    """One query's result as a pandas DataFrame, with the dtypes DuckDB's `.df()` gives
    (dates as datetime64, nulls as NaN), from the configured target."""
    import duckdb
    import pandas as pd

    if warehouse_target(env) != "postgres":
        with duckdb.connect(str(warehouse)) as con:
            return con.execute(sql, list(params)).df()
    names, rows = _postgres_rows(sql, params, None, env)
    frame = pd.DataFrame.from_records(rows, columns=names).infer_objects()
    for name in names:
        values = frame[name].dropna()
        if values.empty:
            frame[name] = frame[name].astype("float64")
        elif all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values):
            frame[name] = pd.to_datetime(frame[name]).astype("datetime64[us]")
    return frame
