"""The dbt warehouse layer, driven from Python: campaign vars, one `dbt build` per run
date, and the Postgres loader for the lake (docs/warehouse.md).

    python -m grouprebate.warehouse build --config FILE --ds DATE --lake DIR [--target postgres]
    python -m grouprebate.warehouse docs  --config FILE --ds DATE --lake DIR
    python -m grouprebate.warehouse load-postgres --lake DIR

The rules' parameters live in the campaign config only; dbt gets them as --vars built
here. The draw seed is secret until the draw, so only runs with ds >= the freeze date
receive it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grouprebate.config import CampaignConfig, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = ROOT / "dbt"
SOURCES_FILE = DBT_PROJECT_DIR / "models" / "staging" / "_lake__sources.yml"
DEFAULT_LAKE = ROOT / "work" / "lake"
DEFAULT_WAREHOUSE = ROOT / "work" / "warehouse.duckdb"
TARGETS = ("duckdb", "postgres")
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


class WarehouseError(RuntimeError):
    """A dbt invocation or a lake load that failed; the message says which step and why."""


def build_vars(config: CampaignConfig, ds: dt.date) -> dict[str, Any]:
    """The dbt --vars for the run of date ds (rule parameters from the campaign config).

    draw_seed is included only from the freeze date on: before the draw it is secret
    and the draw models yield no winners without it. Its SHA-256 is public from the
    start (SPEC §4) and is always passed when the seed is known.
    """
    result: dict[str, Any] = {
        "ds": ds.isoformat(),
        "campaign_id": config.campaign_id,
        "timezone": config.timezone,
        "freeze_ds": config.freeze_ds.isoformat(),
        "draw_open": config.draw_open.isoformat(),
        "claim_window_hours": config.claim_window_hours,
        "payout_sla_hours": config.payout_sla_hours,
        "red_packet_cap_fen": config.red_packet_cap_fen,
        "draw_winner_count": config.draw_winner_count,
        "calendar_end": config.calendar_end.isoformat(),
    }
    if config.draw_seed:
        result["draw_seed_sha256"] = hashlib.sha256(config.draw_seed.encode()).hexdigest()
    if ds >= config.freeze_ds:
        if not config.draw_seed:
            raise ConfigError(
                f"the run for {ds} is on or after the draw ({config.freeze_ds}) and needs "
                "the draw seed; load the campaign config with its seed (draw.seed or the "
                "environment variable named by draw.seed_env)"
            )
        result["draw_seed"] = config.draw_seed
    return result


def dbt_env(
    lake: str | Path,
    warehouse: str | Path | None = None,
    target: str = "duckdb",
    schema_prefix: str | None = None,
) -> dict[str, str]:
    """Environment variables the dbt project reads (profiles.yml and the sources)."""
    if target not in TARGETS:
        raise WarehouseError(f"unknown dbt target {target!r}; use one of {', '.join(TARGETS)}")
    env = {
        "GROUPREBATE_LAKE": str(Path(lake).resolve()),
        "GROUPREBATE_DBT_TARGET": target,
        "DO_NOT_TRACK": "1",
        # dbt/logs/dbt.log keeps each node's result and every error; its default debug
        # level (every statement and event) costs about 10% of a nightly build.
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "info"),
    }
    if warehouse is not None:
        env["GROUPREBATE_WAREHOUSE"] = str(Path(warehouse).resolve())
    if schema_prefix is not None:
        env["GROUPREBATE_SCHEMA_PREFIX"] = schema_prefix
    return env


@contextmanager
def _environ(overrides: Mapping[str, str]) -> Iterator[None]:
    """dbt's env_var() reads os.environ; set the overrides for one invocation only."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dbt(
    args: Sequence[str], env: Mapping[str, str], check: bool = True, manifest: Any = None,
) -> Any:
    """One in-process dbt invocation (dbtRunner) on this project; returns its result.

    With check=True a failed invocation raises WarehouseError naming the failed nodes.
    `manifest` (the result of a `dbt parse` with the same project, lake and profile)
    skips parsing; the vars still apply, as they are rendered when models compile.
    """
    from dbt.cli.main import dbtRunner

    full_args = [*args, "--project-dir", str(DBT_PROJECT_DIR),
                 "--profiles-dir", str(DBT_PROJECT_DIR)]
    with _environ(env):
        try:
            result = dbtRunner(manifest=manifest).invoke(full_args)
        finally:
            _release_duckdb()
    if check and not result.success:
        raise WarehouseError(f"dbt {' '.join(args[:1])} failed: {describe_failures(result)}")
    return result


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after an invocation.

    Otherwise the file stays locked for other processes and this process cannot open it
    read-only (publish and export read the marts right after the build). dbt-duckdb keeps
    its one environment on the connection manager class; closing it is what dbt-duckdb
    itself does before switching to another database.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing to release
        return
    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def describe_failures(result: Any) -> str:
    """The failed or erroring nodes of a dbt result, or the exception, in one line."""
    if result.exception is not None:
        return str(result.exception)
    failed = [
        f"{r.node.name} ({r.status}: {(r.message or '').strip()})"
        for r in getattr(result.result, "results", []) or []
        if str(r.status) in ("error", "fail", "runtime error")
    ]
    return "; ".join(failed) or "see the dbt log (dbt/logs/dbt.log)"


_PARSED: dict[tuple, Any] = {}


def _project_fingerprint() -> tuple:
    """Names, sizes and mtimes of the dbt project's files: any edit means a new parse."""
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        files += (p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return tuple(sorted(
        (str(p.relative_to(DBT_PROJECT_DIR)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in files
    ))


def parsed_manifest(config: CampaignConfig, ds: dt.date, env: Mapping[str, str]) -> Any:
    """One `dbt parse` per process for a given project, profile environment and lake.

    The vars change every run date, which defeats dbt's partial parsing (a full parse
    costs seconds); they are rendered again when the models compile, so the manifest of
    one parse serves every later date of a run (`grouprebate run` builds 35 in one process).
    """
    key = (tuple(sorted(env.items())), _project_fingerprint())
    if key not in _PARSED:
        _PARSED.clear()
        result = run_dbt(["parse", "--quiet", "--vars", json.dumps(build_vars(config, ds))], env)
        _PARSED[key] = result.result
    return _PARSED[key]


# The models a build may leave out when an earlier build of the same run, on the same
# side of the freeze date, made them: before it, the after-draw models (fed only by the
# draw's winners) are empty, as no run before it has the seed; from it on, the frozen
# models (the frozen snapshot and the draw) never change. tests/test_dbt_project.py.
AFTER_DRAW_TAG = "after_draw"
FROZEN_TAG = "frozen"
# Per run and warehouse: whether its last build ran from the freeze date on (True) or
# before it (False); absent after a failure, and until the run's first build.
_LAST_SIDE: dict[tuple, bool] = {}
_SELECTING = {"--select", "-s", "--models", "-m", "--exclude", "--selector"}


def _run_key(env: Mapping[str, str]) -> tuple | None:
    """The warehouse of one `grouprebate run` (which sets GROUPREBATE_RUN_ID), else None."""
    run_id = os.environ.get("GROUPREBATE_RUN_ID")
    if not run_id:
        return None
    return run_id, tuple(sorted(env.items())), _project_fingerprint()


def build(
    config: CampaignConfig,
    ds: dt.date,
    lake: str | Path,
    *,
    target: str = "duckdb",
    warehouse: str | Path | None = None,
    schema_prefix: str | None = None,
    extra_args: Sequence[str] = (),
    manifest: Any = None,
    unit_tests: bool = True,
) -> Any:
    """`dbt build` (models, data tests and, unless told not to, unit tests) for run date ds.

    For the postgres target the lake is first copied into the `lake` schema. Without a
    `manifest` the project is parsed once per process (parsed_manifest). unit_tests=False
    is for the nightly runs: unit tests pin the SQL logic on fixed rows, which no run date
    changes, so they run in `make test` and CI, as dbt advises for production builds;
    the data tests (keys, money invariants) still run on every date.

    Within one `grouprebate run`, a date leaves out the models that the run's previous
    build, on the same side of the freeze date, made and that cannot have changed since
    (AFTER_DRAW_TAG before the freeze, FROZEN_TAG from it on), and the tests that read
    nothing else. Any other build is whole.
    """
    if target == "duckdb":
        path = Path(warehouse or DEFAULT_WAREHOUSE)
        path.parent.mkdir(parents=True, exist_ok=True)
        warehouse = path
    else:
        schema_prefix = schema_prefix_from_env() if schema_prefix is None else schema_prefix
        load_lake_into_postgres(lake, schema_prefix=schema_prefix)
    env = dbt_env(lake, warehouse, target, schema_prefix)
    from_freeze = ds >= config.freeze_ds
    run_key = _run_key(env) if not _SELECTING.intersection(extra_args) else None
    unchanged = run_key is not None and _LAST_SIDE.pop(run_key, None) == from_freeze
    left_out = FROZEN_TAG if from_freeze else AFTER_DRAW_TAG
    args = ["build", "--target", target, "--vars", json.dumps(build_vars(config, ds)),
            *([] if unit_tests else ["--exclude-resource-type", "unit_test"]),
            # cautious: a test that also reads a model being built still runs
            *(["--exclude", f"tag:{left_out}", "--indirect-selection", "cautious"]
              if unchanged else []), *extra_args]
    if manifest is None:
        manifest = parsed_manifest(config, ds, env)
    result = run_dbt(args, env, manifest=manifest)
    if run_key is not None:
        _LAST_SIDE[run_key] = from_freeze
    return result


def generate_docs(
    config: CampaignConfig, ds: dt.date, lake: str | Path, *,
    warehouse: str | Path | None = None, extra_args: Sequence[str] = (),
) -> Any:
    """`dbt docs generate` against a built DuckDB warehouse (models compile with the vars)."""
    env = dbt_env(lake, warehouse or DEFAULT_WAREHOUSE)
    args = ["docs", "generate", "--vars", json.dumps(build_vars(config, ds)), *extra_args]
    return run_dbt(args, env)


# ------------------------------------------------------------------ Postgres lake loader

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


# --------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("build", "dbt build for one run date"),
                            ("docs", "dbt docs generate (DuckDB)")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", required=True, help="campaign config YAML")
        cmd.add_argument("--ds", required=True, type=dt.date.fromisoformat, help="run date")
        cmd.add_argument("--lake", default=str(DEFAULT_LAKE), help="lake root")
        cmd.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE),
                         help="DuckDB file (duckdb target)")
        if name == "build":
            cmd.add_argument("--target", choices=TARGETS, default="duckdb")
    load = sub.add_parser("load-postgres", help="copy the lake into the Postgres schema lake")
    load.add_argument("--lake", default=str(DEFAULT_LAKE), help="lake root")
    args = parser.parse_args(argv)
    try:
        if args.command == "load-postgres":
            for table, rows in load_lake_into_postgres(args.lake).items():
                print(f"{LAKE_SCHEMA}.{table}: {rows} rows")
            return 0
        config = load_config(args.config, need_seed=args.ds >= _freeze_ds(args.config))
        if args.command == "build":
            build(config, args.ds, args.lake, target=args.target, warehouse=args.warehouse)
        else:
            generate_docs(config, args.ds, args.lake, warehouse=args.warehouse)
    except (ConfigError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _freeze_ds(config_path: str) -> dt.date:
    return load_config(config_path, need_seed=False).freeze_ds


if __name__ == "__main__":
    sys.exit(main())
