{#
    One row per payout batch file of every export date from the draw to the run date:
    its id, file, row count and control sum as the ledger assigns them. A date without
    payouts has one empty batch, so finance tells "nothing to pay" from "file missing".
#}

with recursive

ledger as (
    select * from {{ ref('payout_ledger') }}
    where entry_type = 'payout_exported'
),

export_dates as (
    select {{ freeze_ds() }} as export_ds
    where {{ freeze_ds() }} <= {{ run_ds() }}
    union all
    select cast(export_ds + 1 as date) as export_ds
    from export_dates
    where export_ds < {{ run_ds() }}
),

filled as (
    select
        entry_ds as export_ds,
        batch_number,
        batch_id,
        file_name,
        count(*) as row_count,
        sum(amount_fen) as total_fen
    from ledger
    group by entry_ds, batch_number, batch_id, file_name
),

empty as (
    select
        export_dates.export_ds,
        1 as batch_number,
        {{ payout_batch_id('export_dates.export_ds', 1) }} as batch_id,
        {{ payout_file_name('export_dates.export_ds', 1) }} as file_name,
        0 as row_count,
        0 as total_fen
    from export_dates
    where not exists (
        select 1 from filled
        where filled.export_ds = export_dates.export_ds
    )
),

batches as (
    select * from filled
    union all
    select * from empty
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        batch_id,
        export_ds,
        cast(batch_number as integer) as batch_number,
        cast(count(*) over (partition by export_ds) as integer) as batch_count,
        file_name,
        cast(row_count as bigint) as row_count,
        cast(total_fen as bigint) as total_fen
    from batches
)

select * from final
