"""The Postgres lake load per run date, whole against incremental, on a lake a run wrote:

    python -m grouprebate.bench.postgres_load --lake WORK/lake [--out FILE]

The lake is replayed date by date (each date's partitions appear in a copy, as that
date's Spark jobs write them) and loaded twice per date on the server of the
GROUPREBATE_PG_* variables: into an empty schema, which copies every partition so far as
the loader did before it was incremental, and into a schema kept across dates, which
copies only that date's partitions. Both schemas are dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grouprebate.bench.report import code_state, machine
from grouprebate.warehouse.postgres_load import (
    LAKE_SCHEMA,
    lake_tables,
    load_lake_into_postgres,
    partition_digests,
    pg_connect_kwargs,
)


def replay(lake: Path) -> dict:
    """Seconds of each date's whole and incremental loads, and the partitions copied."""
    import psycopg2

    tables = lake_tables()
    dates = sorted({ds for t in tables for ds in partition_digests(lake, t)})
    whole, incremental = f"bw{secrets.token_hex(3)}_", f"bi{secrets.token_hex(3)}_"
    conn = psycopg2.connect(**pg_connect_kwargs())
    conn.autocommit = True
    per_date = []
    try:
        with tempfile.TemporaryDirectory(prefix="grouprebate-bench-") as tmp:
            copy = Path(tmp) / "lake"
            for ds in dates:
                _add_partitions(lake, copy, ds)
                if not all(partition_digests(copy, t) for t in tables):
                    continue  # a table with no partition yet: nothing a build could load
                with conn.cursor() as cur:
                    cur.execute(f'drop schema if exists "{whole}{LAKE_SCHEMA}" cascade')
                started = time.perf_counter()
                before = load_lake_into_postgres(copy, schema_prefix=whole)
                whole_s = time.perf_counter() - started
                started = time.perf_counter()
                after = load_lake_into_postgres(copy, schema_prefix=incremental)
                incremental_s = time.perf_counter() - started
                per_date.append({
                    "ds": ds.isoformat(),
                    "rows_in_lake": sum(before.rows.values()),
                    "whole_s": round(whole_s, 3),
                    "whole_partitions": sum(map(len, before.loaded.values())),
                    "incremental_s": round(incremental_s, 3),
                    "incremental_partitions": sum(map(len, after.loaded.values())),
                })
                print(json.dumps(per_date[-1]), flush=True)
    finally:
        with conn.cursor() as cur:
            for prefix in (whole, incremental):
                cur.execute(f'drop schema if exists "{prefix}{LAKE_SCHEMA}" cascade')
        conn.close()
    return {"per_date": per_date, "tables": len(tables)}


def _add_partitions(lake: Path, copy: Path, ds: dt.date) -> None:
    for folder in lake.rglob(f"ds={ds.isoformat()}"):
        if folder.is_dir():
            shutil.copytree(folder, copy / folder.relative_to(lake), dirs_exist_ok=True)


def summary(per_date: list[dict]) -> dict:
    def median(key: str) -> float:
        return round(statistics.median(d[key] for d in per_date), 3)

    last = per_date[-1]
    return {"dates": len(per_date), "whole_median_s": median("whole_s"),
            "incremental_median_s": median("incremental_s"),
            "whole_last_date_s": last["whole_s"], "incremental_last_date_s": last["incremental_s"],
            "whole_total_s": round(sum(d["whole_s"] for d in per_date), 2),
            "incremental_total_s": round(sum(d["incremental_s"] for d in per_date), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grouprebate.bench.postgres_load",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", required=True, type=Path, help="a run's lake folder")
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    parser.add_argument("--workload", default="", help="what the lake holds, for the record")
    args = parser.parse_args(argv)
    figures = replay(args.lake.resolve())
    result = {
        "measurement": "postgres_load",
        "what": "the lake loaded into Postgres on each run date: every partition (the loader "
                "before it was incremental) against only new or changed partitions",
        "date": dt.date.today().isoformat(),
        "command": "python -m grouprebate.bench.postgres_load " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "code": code_state(),
        "workload": args.workload,
        "units": "seconds",
        "summary": summary(figures["per_date"]),
        **figures,
    }
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
