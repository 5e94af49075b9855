"""The warehouse on its own, outside the DAG (docs/warehouse.md).

    python -m grouprebate.warehouse build --config FILE --ds DATE --lake DIR [--target postgres]
    python -m grouprebate.warehouse docs  --config FILE --ds DATE --lake DIR
    python -m grouprebate.warehouse load-postgres --lake DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from grouprebate.calendar import phase
from grouprebate.config import ConfigError, load_config
from grouprebate.warehouse import WarehouseError
from grouprebate.warehouse.dbt_runner import (
    DEFAULT_LAKE,
    DEFAULT_WAREHOUSE,
    TARGETS,
    build,
    dbt_work_dir,
    generate_docs,
)
from grouprebate.warehouse.marts import warehouse_target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grouprebate.warehouse",
                                     description="dbt builds and docs of the warehouse")
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
            cmd.add_argument("--target", choices=TARGETS, default=warehouse_target(),
                             help="default: $GROUPREBATE_DBT_TARGET, else duckdb")
    load = sub.add_parser("load-postgres", help="copy the lake into the Postgres schema lake")
    load.add_argument("--lake", default=str(DEFAULT_LAKE), help="lake root")
    args = parser.parse_args(argv)
    try:
        if args.command == "load-postgres":
            from grouprebate.warehouse.postgres_load import LAKE_SCHEMA, load_lake_into_postgres

            done = load_lake_into_postgres(args.lake)
            for table, rows in done.rows.items():
                print(f"{LAKE_SCHEMA}.{table}: {rows} rows, {len(done.loaded[table])} "
                      f"partitions loaded, {len(done.removed[table])} removed")
            return 0
        rules = load_config(args.config, need_seed=False)
        config = load_config(args.config, need_seed=phase(rules, args.ds).has_drawn)
        if args.command == "build":
            build(config, args.ds, args.lake, target=args.target, warehouse=args.warehouse)
        else:
            generate_docs(config, args.ds, args.lake, warehouse=args.warehouse)
            print(f"dbt docs written to {dbt_work_dir(args.warehouse) / 'target'}")
    except (ConfigError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
