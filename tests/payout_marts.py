"""Stand-ins for the marts the payout exporter reads (grouprebate/publish/payouts.py)."""

from __future__ import annotations

import datetime as dt
import hashlib

from grouprebate.publish.payouts import BATCH_LINES_SQL

CLAIMED = dt.datetime(2018, 11, 13, 1, tzinfo=dt.UTC)


def pid(group: str, user: str) -> str:
    return hashlib.sha256(f"xhq-2018:{group}:{user}".encode()).hexdigest()[:32]


def payout(ds: dt.date, group: str, user: str, amount: int, hours: int = 0) -> tuple:
    claimed = CLAIMED + dt.timedelta(hours=hours)
    return (ds, pid(group, user), group, user, amount, claimed, claimed + dt.timedelta(days=1))


def fake_marts(payouts: list[tuple], max_rows: int = 2, *, announce: int = 0):
    """The batch lines the exporter reads, as the marts give them: each date's payouts in
    payout_id order, max_rows a batch (marts.payout_ledger's rule), an empty batch for a
    date without payouts. `announce` adds fen to what the batches announce."""

    def query(sql, params=()):
        assert sql == BATCH_LINES_SQL
        day = sorted(p[1:] for p in payouts if p[0] == params[0])
        chunks = [day[i:i + max_rows] for i in range(0, len(day), max_rows)] or [[]]
        lines = []
        for number, chunk in enumerate(chunks, 1):
            batch_id = f"xhq-2018_{params[0]}_{number:03d}"
            head = (batch_id, number, len(chunks), f"payouts_{batch_id}.csv", len(chunk),
                    sum(p[3] for p in chunk) + announce)
            lines += [head + p for p in chunk] or [head + (None,) * 6]
        return lines

    return query
