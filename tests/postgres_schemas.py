"""A Postgres connection and a schema prefix of a test's own, for the postgres-marked tests.

Skips, saying why, when no PostgreSQL server answers (GROUPREBATE_PG_HOST/_PORT/_USER/_DB,
default 127.0.0.1:5432); drops every schema under the prefix afterwards, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

import pytest

from grouprebate.warehouse import postgres_load


@contextlib.contextmanager
def own_schemas(tag: str) -> Iterator[tuple]:
    """(autocommit connection, prefix) with prefix unique to this process and call."""
    psycopg2 = pytest.importorskip("psycopg2")
    kwargs = postgres_load.pg_connect_kwargs()
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers on {kwargs['host']}:{kwargs['port']} "
                    f"(set GROUPREBATE_PG_HOST/_PORT/_USER/_DB to use another): {exc}")
    conn.autocommit = True
    prefix = f"{tag}{os.getpid()}_{secrets.token_hex(3)}_"
    try:
        yield conn, prefix
    finally:
        with conn.cursor() as cur:
            cur.execute("select schema_name from information_schema.schemata "
                        "where starts_with(schema_name, %s)", [prefix])
            for (schema,) in cur.fetchall():
                cur.execute(f'drop schema "{schema}" cascade')
        conn.close()
