"""The gate between attribution and the warehouse: the money identities of the
attribution tables must hold before dbt reads them."""

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
        "eligible group that is invalid or has no pool": f"""
            select count(*) from read_parquet('{pools}')
            where is_eligible and (not is_valid or pool_fen <= 0)""",
    }
    broken = {name: duckdb.sql(sql).fetchall()[0][0] for name, sql in checks.items()}
    broken = {name: n for name, n in broken.items() if n}
    if broken:
        detail = "; ".join(f"{name}: {n} rows" for name, n in broken.items())
        raise QualityGateFailed(f"attribution ds={ds} breaks money identities: {detail}")
    return broken
