-- Ledger check on every date from the draw on: each export date's batch files hold
-- exactly marts.payouts of that export_ds, which are exactly the claimed splits, in rows
-- and in fen; no payout is exported on a date without its files.

select
    'date not balanced' as failure,
    export_ds,
    file_rows,
    file_fen,
    payout_rows,
    payout_fen,
    claimed_split_rows,
    claimed_split_fen
from {{ ref('payout_reconciliation') }}
where not is_balanced

union all

select
    'payouts exported on a date without batch files' as failure,
    payouts.export_ds,
    null as file_rows,
    null as file_fen,
    count(*) as payout_rows,
    sum(payouts.amount_fen) as payout_fen,
    null as claimed_split_rows,
    null as claimed_split_fen
from {{ ref('payouts') }} as payouts
left join {{ ref('payout_reconciliation') }} as reconciliation
    on payouts.export_ds = reconciliation.export_ds
where reconciliation.export_ds is null
group by payouts.export_ds
