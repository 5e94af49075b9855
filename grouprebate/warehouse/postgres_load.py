"""The lake copied into Postgres (schema `lake`), for the dbt-postgres target.

DuckDB reads the lake's Parquet files in place; Postgres cannot, so each build on
the postgres target first replaces the lake tables that the dbt sources declare.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grouprebate.warehouse import WarehouseError
from grouprebate.warehouse.dbt_runner import DBT_PROJECT_DIR

SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_lake__sources.yml"
LAKE_SCHEMA = "lake"

# DuckDB's types of the lake's Parquet columns -> the Postgres column types.
_PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP": "timestamp",
}


@dataclass(frozen=True)
class LakeTable:
    """One lake table the dbt sources declare: its folder under the lake, its Postgres name."""

    path: str  # e.g. "claims" or "attribution/group_pools"
    pg_table: str  # e.g. "claims" or "attribution__group_pools"


def lake_tables(sources_file: Path = SOURCES_FILE) -> list[LakeTable]:
    """The tables declared in the dbt sources file, so loader and models never drift."""
    document = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
    tables = []
    for source in document["sources"]:
        folder = source.get("meta", {}).get("lake_dir", "")
        for table in source["tables"]:
            tables.append(LakeTable(f"{folder}{table['name']}",
                                    table.get("identifier", table["name"])))
    return tables


def pg_connect_kwargs(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """psycopg2 connection arguments from the same variables profiles.yml reads."""
    env = os.environ if env is None else env
    kwargs: dict[str, Any] = {
        "host": env.get("GROUPREBATE_PG_HOST", "127.0.0.1"),
        "port": int(env.get("GROUPREBATE_PG_PORT", "5432")),
        "user": env.get("GROUPREBATE_PG_USER", "postgres"),
        "dbname": env.get("GROUPREBATE_PG_DB", "test"),
        "connect_timeout": 5,
    }
    if env.get("GROUPREBATE_PG_PASSWORD"):
        kwargs["password"] = env["GROUPREBATE_PG_PASSWORD"]
    return kwargs


def _lake_csv(lake: Path, table: LakeTable, out: Path) -> list[tuple[str, str]]:
    """Write one lake table (all partitions, ds as a date column) to a CSV for COPY.

    Every value is quoted and NULL is the unquoted empty field, so empty strings and
    nulls stay apart; timestamps are written in UTC. NUL characters, which Postgres
    text cannot hold, become U+FFFD. Returns (column, Postgres type) pairs.
    """
    import duckdb

    pattern = f"{lake}/{table.path}/*/*.parquet"
    if not list(lake.glob(f"{table.path}/ds=*/*.parquet")):
        raise WarehouseError(
            f"no Parquet files match {pattern}; run the Spark jobs for at least one date "
            "before loading the lake into Postgres"
        )
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        literal = pattern.replace("'", "''")
        relation = f"read_parquet('{literal}', hive_partitioning = true)"
        described = con.execute(f"describe select * from {relation}").fetchall()
        columns, selects = [], []
        for name, kind, *_ in described:
            if name == "ds":
                columns.append(("ds", "date"))
                selects.append("cast(ds as date) as ds")
                continue
            if kind not in _PG_TYPES:
                raise WarehouseError(f"{pattern}: column {name} has type {kind}, "
                                     "which the Postgres loader does not map")
            columns.append((name, _PG_TYPES[kind]))
            quoted = '"' + name.replace('"', '""') + '"'
            selects.append(f"replace({quoted}, chr(0), chr(65533)) as {quoted}"
                           if kind == "VARCHAR" else quoted)
        target = str(out).replace("'", "''")
        con.execute(f"copy (select {', '.join(selects)} from {relation}) to '{target}' "
                    "(format csv, header false, force_quote *)")
    finally:
        con.close()
    return columns


def _pg_columns(cur: Any, schema: str, table: str) -> list[tuple[str, str]]:
    """(column, type) of an existing table in the loader's spelling of types; [] if absent."""
    cur.execute(
        "select attname, format_type(atttypid, atttypmod) from pg_attribute "
        "where attrelid = to_regclass(format('%%I.%%I', %s, %s)) "
        "and attnum > 0 and not attisdropped order by attnum", (schema, table))
    spelled = {"timestamp with time zone": "timestamptz",
               "timestamp without time zone": "timestamp"}
    return [(name, spelled.get(kind, kind)) for name, kind in cur.fetchall()]


def schema_prefix_from_env(env: Mapping[str, str] | None = None) -> str:
    """GROUPREBATE_SCHEMA_PREFIX, as profiles.yml and generate_schema_name read it."""
    env = os.environ if env is None else env
    return env.get("GROUPREBATE_SCHEMA_PREFIX", "")


def load_lake_into_postgres(
    lake: str | Path, *, schema_prefix: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Copy every declared lake table into <prefix>lake.<table> in Postgres; rows per table.

    All tables are replaced in one transaction, so dbt never sees a half-loaded lake.
    The models filter partitions by the run date themselves. The prefix defaults to
    GROUPREBATE_SCHEMA_PREFIX (empty: the schema is exactly `lake`).
    """
    import psycopg2
    from psycopg2 import sql

    lake = Path(lake).resolve()
    prefix = schema_prefix_from_env(env) if schema_prefix is None else schema_prefix
    schema = f"{prefix}{LAKE_SCHEMA}"
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="grouprebate-pg-") as tmp:
        staged = []
        for table in lake_tables():
            csv_path = Path(tmp) / f"{table.pg_table}.csv"
            staged.append((table, _lake_csv(lake, table, csv_path), csv_path))
        conn = psycopg2.connect(**pg_connect_kwargs(env))
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql.SQL("create schema if not exists {}").format(
                    sql.Identifier(schema)))
                for table, columns, csv_path in staged:
                    name = sql.Identifier(schema, table.pg_table)
                    if _pg_columns(cur, schema, table.pg_table) == columns:
                        # Same shape: keep the table, so the staging views on it stay valid.
                        cur.execute(sql.SQL("truncate table {}").format(name))
                    else:
                        cur.execute(sql.SQL("drop table if exists {} cascade").format(name))
                        cur.execute(sql.SQL("create table {} ({})").format(
                            name, sql.SQL(", ").join(
                                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kind))
                                for c, kind in columns)))
                    with csv_path.open(encoding="utf-8") as handle:
                        cur.copy_expert(sql.SQL("copy {} from stdin with (format csv)").format(
                            name).as_string(cur), handle)
                    counts[table.pg_table] = cur.rowcount
        finally:
            conn.close()
    return counts
