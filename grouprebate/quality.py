"""Quality gates between the stages: what must hold before the next stage trusts the data.

Great Expectations suites will carry the detailed checks; these gates hold
the ones the pipeline cannot run without: the landing bad-row threshold and
the money identities of the attribution tables.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path


class QualityGateFailed(RuntimeError):
    """A gate found data the next stage must not read."""


def _partition(lake: Path, table: str, ds: dt.date) -> str:
    path = lake / table / f"ds={ds.isoformat()}"
    if not path.is_dir():
        raise QualityGateFailed(f"{path} is missing: its job has not run for ds={ds}")
    return f"{path}/*.parquet"


def check_landing(lake: Path, ds: dt.date) -> list[tuple]:
    """Every source's bad-row rate of the day is within its threshold."""
    import duckdb

    rows = duckdb.sql(
        f"select source, rows, bad, bad_rate, max_bad_row_rate, passed "
        f"from read_parquet('{_partition(lake, 'ingest_report', ds)}') order by source"
    ).fetchall()
    failed = [r for r in rows if not r[5]]
    if failed:
        detail = "; ".join(f"{s}: {b} of {n} bad ({rate:.2%} > {limit:.2%})"
                           for s, n, b, rate, limit, _ in failed)
        raise QualityGateFailed(f"landing ds={ds} fails the bad-row threshold: {detail}")
    return rows


def check_attribution(lake: Path, ds: dt.date) -> dict[str, int]:
    """Money identities: contributions within 0..paid, and pools equal to their members' sums."""
    import duckdb

    root = lake / "attribution"
    if not (root / "group_pools" / f"ds={ds.isoformat()}").is_dir():
        return {}  # after the freeze the job writes no pools: the snapshot was checked then
    orders = _partition(root, "attributed_orders", ds)
    members = _partition(root, "member_contributions", ds)
    pools = _partition(root, "group_pools", ds)
    checks = {
        "contribution outside 0..paid_fen": f"""
            select count(*) from read_parquet('{orders}')
            where contribution_fen < 0 or contribution_fen > paid_fen""",
        "member contributions differ from their orders": f"""
            select count(*) from (
                select group_id, buyer_user_id as user_id, sum(contribution_fen) as fen
                from read_parquet('{orders}') group by all
            ) o full join read_parquet('{members}') m using (group_id, user_id)
            where o.fen is distinct from m.contribution_fen""",
        "pool differs from its members' contributions": f"""
            select count(*) from read_parquet('{pools}') p
            left join (select group_id, sum(contribution_fen) as fen
                       from read_parquet('{members}') group by all) m using (group_id)
            where p.pool_fen <> coalesce(m.fen, 0)""",
        "eligible group that is invalid or too small": f"""
            select count(*) from read_parquet('{pools}')
            where is_eligible and (not is_valid or pool_fen <= 0)""",
    }
    broken = {name: duckdb.sql(sql).fetchall()[0][0] for name, sql in checks.items()}
    broken = {name: n for name, n in broken.items() if n}
    if broken:
        detail = "; ".join(f"{name}: {n} rows" for name, n in broken.items())
        raise QualityGateFailed(f"attribution ds={ds} breaks money identities: {detail}")
    return broken
