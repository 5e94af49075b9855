-- The batch rule (payout_ledger): a batch holds at most payout.max_rows_per_file payouts,
-- every batch but a date's last is full, and the numbers run 1..batch_count.

with

batches as (
    select * from {{ ref('payout_batches') }}
)

select
    export_ds,
    batch_number,
    batch_count,
    row_count
from batches
where
    row_count > {{ payout_max_rows_per_file() }}
    or (batch_number < batch_count and row_count <> {{ payout_max_rows_per_file() }})
    or batch_count <> (
        select count(*) from batches as same_date
        where same_date.export_ds = batches.export_ds
    )
