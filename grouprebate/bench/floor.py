"""The floor of this machine: how fast DuckDB scans, hash-joins and aggregates generated
rows here, so a stage can be reported as a multiple of what the hardware allows.

A machine whose speed varies from hour to hour (ours does) makes absolute seconds hard
to compare; the same run's floor puts them in proportion.
"""

from __future__ import annotations

import time

PROBE_ROWS = 10_000_000
REPEATS = 3

QUERIES = {
    "scan": "select sum(v) from facts",
    "hash_join": "select sum(d.attr) from facts as f inner join dims as d on f.k = d.k",
    "aggregation": "select count(*), sum(s) from (select k, sum(v) as s from facts group by k)",
}


def probe(rows: int = PROBE_ROWS, repeats: int = REPEATS) -> dict:
    """Rows per second of each query over `rows` fact rows, the best of `repeats` runs
    (the least disturbed by whatever else runs), with DuckDB's default threads."""
    import duckdb

    con = duckdb.connect()
    try:
        keys = max(1, rows // 10)  # ten fact rows per key of the dimension
        con.execute(f"create table facts as select range as id, hash(range) % {keys} as k, "
                    f"range % 1000 as v from range({rows})")
        con.execute(f"create table dims as select range as k, range % 97 as attr "
                    f"from range({keys})")
        rates = {}
        for name, sql in QUERIES.items():
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                con.execute(sql).fetchall()
                best = min(best, time.perf_counter() - started)
            rates[name] = rows / best
        threads = con.execute("select current_setting('threads')").fetchone()[0]
    finally:
        con.close()
    return {"rows": rows, "threads": int(threads),
            "rows_per_s": {name: round(rate) for name, rate in rates.items()}}
