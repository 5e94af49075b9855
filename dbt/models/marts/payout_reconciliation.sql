{#
    One row per export date from the draw to the run date: what the day's batch files
    hold, what marts.payouts holds for that export date, and the claimed splits behind
    them, side by side in integer fen. is_balanced says they agree; a data test fails the
    run date when one does not, and the exports gate holds the staged files to this row.
#}

with

batches as (
    select * from {{ ref('payout_batches') }}
),

payouts as (
    select * from {{ ref('payouts') }}
),

splits as (
    select * from {{ ref('member_splits') }}
),

accepted_claims as (
    select * from {{ ref('int_claims_matched') }}
    where is_accepted
),

files as (
    select
        export_ds,
        count(*) as batch_count,
        sum(row_count) as file_rows,
        sum(total_fen) as file_fen
    from batches
    group by export_ds
),

paid as (
    select
        export_ds,
        count(*) as payout_rows,
        sum(amount_fen) as payout_fen
    from payouts
    group by export_ds
),

claimed as (
    select
        accepted_claims.export_ds,
        count(*) as claimed_split_rows,
        sum(splits.split_fen) as claimed_split_fen
    from accepted_claims
    inner join splits
        on
            accepted_claims.group_id = splits.group_id
            and accepted_claims.user_id = splits.user_id
    group by accepted_claims.export_ds
),

compared as (
    select
        files.export_ds,
        files.batch_count,
        files.file_rows,
        files.file_fen,
        coalesce(paid.payout_rows, 0) as payout_rows,
        coalesce(paid.payout_fen, 0) as payout_fen,
        coalesce(claimed.claimed_split_rows, 0) as claimed_split_rows,
        coalesce(claimed.claimed_split_fen, 0) as claimed_split_fen
    from files
    left join paid
        on files.export_ds = paid.export_ds
    left join claimed
        on files.export_ds = claimed.export_ds
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        export_ds,
        cast(batch_count as integer) as batch_count,
        cast(file_rows as bigint) as file_rows,
        cast(file_fen as bigint) as file_fen,
        cast(payout_rows as bigint) as payout_rows,
        cast(payout_fen as bigint) as payout_fen,
        cast(claimed_split_rows as bigint) as claimed_split_rows,
        cast(claimed_split_fen as bigint) as claimed_split_fen,
        (
            file_rows = payout_rows and payout_rows = claimed_split_rows
            and file_fen = payout_fen and payout_fen = claimed_split_fen
        ) as is_balanced
    from compared
)

select * from final
