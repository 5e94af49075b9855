"""The lake copied into Postgres (schema `lake`), for the dbt-postgres target.

DuckDB reads the lake's Parquet files in place; Postgres cannot, so each build on
the postgres target first brings the lake tables that the dbt sources declare up to
date: only the ds partitions that are new or changed since the last load are copied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grouprebate.warehouse import WarehouseError
from grouprebate.warehouse.dbt_runner import DBT_PROJECT_DIR

SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_lake__sources.yml"
LAKE_SCHEMA = "lake"
# In the lake schema: the digest of every partition the warehouse holds (partition_digests).
BOOKKEEPING_TABLE = "loaded_partitions"

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


def partition_digests(lake: Path, table: LakeTable) -> dict[dt.date, str]:
    """Each ds partition of a lake table with a digest of its Parquet files' names, sizes
    and modification times: a partition the Spark jobs rewrite gets new files (new names,
    new times), so its digest changes, and a look at it costs one stat per file."""
    digests = {}
    for folder in sorted((lake / table.path).glob("ds=*")):
        files = sorted(folder.glob("*.parquet"))
        if not files:
            continue
        listing = hashlib.sha256()
        for path in files:
            stat = path.stat()
            listing.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        digests[dt.date.fromisoformat(folder.name.removeprefix("ds="))] = listing.hexdigest()
    return digests


def _lake_csv(lake: Path, table: LakeTable, dates: list[dt.date],
              out: Path) -> tuple[list[tuple[str, str]], dict[dt.date, int]]:
    """Write the given ds partitions of one lake table (ds as a date column) to a CSV for
    COPY; returns the (column, Postgres type) pairs and the rows of each partition.

    Every value is quoted and NULL is the unquoted empty field, so empty strings and
    nulls stay apart; timestamps are written in UTC. NUL characters, which Postgres
    text cannot hold, become U+FFFD.
    """
    import duckdb

    globs = [str(lake / table.path / f"ds={ds.isoformat()}" / "*.parquet") for ds in dates]
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        literals = ", ".join("'" + g.replace("'", "''") + "'" for g in globs)
        relation = f"read_parquet([{literals}], hive_partitioning = true)"
        described = con.execute(f"describe select * from {relation}").fetchall()
        columns, selects = [], []
        for name, kind, *_ in described:
            if name == "ds":
                columns.append(("ds", "date"))
                selects.append("cast(ds as date) as ds")
                continue
            if kind not in _PG_TYPES:
                raise WarehouseError(f"{lake / table.path}: column {name} has type {kind}, "
                                     "which the Postgres loader does not map")
            columns.append((name, _PG_TYPES[kind]))
            quoted = '"' + name.replace('"', '""') + '"'
            selects.append(f"replace({quoted}, chr(0), chr(65533)) as {quoted}"
                           if kind == "VARCHAR" else quoted)
        target = str(out).replace("'", "''")
        con.execute(f"copy (select {', '.join(selects)} from {relation}) to '{target}' "
                    "(format csv, header false, force_quote *)")
        rows = dict(con.execute(f"select cast(ds as date), count(*) from {relation} "
                                "group by all").fetchall())
    finally:
        con.close()
    return columns, {ds: rows.get(ds, 0) for ds in dates}


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


@dataclass
class LakeLoad:
    """What one load did: the partitions copied (new or changed) and removed per table,
    and the rows each table holds afterwards."""

    loaded: dict[str, list[dt.date]] = field(default_factory=dict)
    removed: dict[str, list[dt.date]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _TablePlan:
    table: LakeTable
    digests: dict[dt.date, str]
    load: list[dt.date]
    remove: list[dt.date]
    columns: list[tuple[str, str]] = field(default_factory=list)
    partition_rows: dict[dt.date, int] = field(default_factory=dict)
    csv: Path | None = None


def _loaded_digests(cur: Any, schema: str) -> dict[tuple[str, dt.date], tuple[str, int]]:
    """The bookkeeping: (table, ds) -> (digest, rows) of every partition in the warehouse."""
    from psycopg2 import sql

    cur.execute(sql.SQL(
        "create table if not exists {} (table_name text not null, ds date not null, "
        "digest text not null, row_count bigint not null, primary key (table_name, ds))"
    ).format(sql.Identifier(schema, BOOKKEEPING_TABLE)))
    cur.execute(sql.SQL("select table_name, ds, digest, row_count from {}").format(
        sql.Identifier(schema, BOOKKEEPING_TABLE)))
    return {(name, ds): (digest, rows) for name, ds, digest, rows in cur.fetchall()}


def load_lake_into_postgres(
    lake: str | Path, *, schema_prefix: str | None = None,
    env: Mapping[str, str] | None = None,
) -> LakeLoad:
    """Bring <prefix>lake.<table> in Postgres up to date with every declared lake table.

    Only partitions that are new, or whose files changed (partition_digests), are copied;
    partitions gone from the lake are deleted; the bookkeeping table `loaded_partitions`
    of the schema records each partition's digest. A table whose columns change, or that
    is missing, is loaded whole. Everything happens in one transaction, so dbt never sees
    a half-loaded lake. The prefix defaults to GROUPREBATE_SCHEMA_PREFIX (empty: `lake`).
    """
    import psycopg2
    from psycopg2 import sql

    lake = Path(lake).resolve()
    prefix = schema_prefix_from_env(env) if schema_prefix is None else schema_prefix
    schema = f"{prefix}{LAKE_SCHEMA}"
    result = LakeLoad()
    conn = psycopg2.connect(**pg_connect_kwargs(env))
    try:
        with conn, conn.cursor() as cur, \
                tempfile.TemporaryDirectory(prefix="grouprebate-pg-") as tmp:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            # One loader at a time per schema; a second waits for the first to commit.
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (schema,))
            loaded = _loaded_digests(cur, schema)
            for table in lake_tables():
                plan = _plan(cur, lake, schema, table, loaded, Path(tmp))
                _apply(cur, schema, plan)
                result.loaded[table.pg_table] = plan.load
                result.removed[table.pg_table] = plan.remove
                result.rows[table.pg_table] = sum(
                    plan.partition_rows[ds] if ds in plan.partition_rows
                    else loaded[(table.pg_table, ds)][1] for ds in plan.digests)
    finally:
        conn.close()
    return result


def _plan(cur: Any, lake: Path, schema: str, table: LakeTable,
          loaded: dict[tuple[str, dt.date], tuple[str, int]], tmp: Path) -> _TablePlan:
    """Which partitions of one table to copy and to delete; the copied ones staged as CSV."""
    digests = partition_digests(lake, table)
    if not digests:
        raise WarehouseError(
            f"no Parquet files under {lake / table.path}/ds=*/; run the Spark jobs for at "
            "least one date before loading the lake into Postgres")
    mine = {ds: value for (name, ds), value in loaded.items() if name == table.pg_table}
    existing = _pg_columns(cur, schema, table.pg_table)
    load = sorted(ds for ds, digest in digests.items()
                  if not existing or mine.get(ds, ("",))[0] != digest)
    remove = sorted(ds for ds in mine if ds not in digests)
    if not load:
        return _TablePlan(table, digests, load, remove)
    csv_path = tmp / f"{table.pg_table}.csv"
    columns, rows = _lake_csv(lake, table, load, csv_path)
    if existing and existing != columns and len(load) < len(digests):
        load = sorted(digests)  # the table's shape changed: load it whole
        columns, rows = _lake_csv(lake, table, load, csv_path)
    return _TablePlan(table, digests, load, remove, columns, rows, csv_path)


def _apply(cur: Any, schema: str, plan: _TablePlan) -> None:
    """Delete the table's stale partitions, copy the staged ones, record their digests."""
    from psycopg2 import sql

    name = sql.Identifier(schema, plan.table.pg_table)
    book = sql.Identifier(schema, BOOKKEEPING_TABLE)
    stale = plan.load + plan.remove
    if not stale:
        return
    if plan.load and _pg_columns(cur, schema, plan.table.pg_table) != plan.columns:
        cur.execute(sql.SQL("drop table if exists {} cascade").format(name))
        cur.execute(sql.SQL("create table {} ({})").format(name, sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kind))
            for c, kind in plan.columns)))
        cur.execute(sql.SQL("delete from {} where table_name = %s").format(book),
                    (plan.table.pg_table,))
    elif set(plan.load) == set(plan.digests):
        # Loaded whole, in the same shape: the table is kept, so the views on it stay valid.
        cur.execute(sql.SQL("truncate table {}").format(name))
        cur.execute(sql.SQL("delete from {} where table_name = %s").format(book),
                    (plan.table.pg_table,))
    else:
        cur.execute(sql.SQL("delete from {} where ds = any(%s)").format(name), (stale,))
        cur.execute(sql.SQL("delete from {} where table_name = %s and ds = any(%s)").format(
            book), (plan.table.pg_table, stale))
    if plan.csv is not None:
        with plan.csv.open(encoding="utf-8") as handle:
            cur.copy_expert(sql.SQL("copy {} from stdin with (format csv)").format(
                name).as_string(cur), handle)
    for ds in plan.load:
        cur.execute(sql.SQL("insert into {} values (%s, %s, %s, %s)").format(book),
                    (plan.table.pg_table, ds, plan.digests[ds], plan.partition_rows[ds]))
