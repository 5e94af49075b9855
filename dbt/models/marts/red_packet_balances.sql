{#
    One row per winning group: its red packet against what the ledger allocated, paid
    and forfeited (net of reversals) as of the run date, and what is still open. The
    packet closes when open_fen is 0; from calendar_end on every packet must close, and
    a data test fails the run date when one does not.
#}

with

winners as (
    select * from {{ ref('winner_list') }}
),

ledger as (
    select * from {{ ref('payout_ledger') }}
),

totals as (
    select
        group_id,
        sum(case when entry_type = 'red_packet_funded' then amount_fen else 0 end)
            as funded_fen,
        sum(case when entry_type = 'split_allocated' then amount_fen else 0 end)
            as allocated_fen,
        sum(case when entry_type = 'payout_exported' then amount_fen else 0 end)
            as paid_fen,
        sum(
            case
                when entry_type in ('part_forfeited', 'packet_forfeited') then amount_fen
                when entry_type = 'forfeiture_reversed' then -amount_fen
                else 0
            end
        ) as forfeited_fen
    from ledger
    group by group_id
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        winners.group_id,
        winners.red_packet_fen,
        winners.trigger_status,
        cast(coalesce(totals.funded_fen, 0) as bigint) as funded_fen,
        cast(coalesce(totals.allocated_fen, 0) as bigint) as allocated_fen,
        cast(coalesce(totals.paid_fen, 0) as bigint) as paid_fen,
        cast(coalesce(totals.forfeited_fen, 0) as bigint) as forfeited_fen,
        cast(
            coalesce(totals.funded_fen, 0) - coalesce(totals.paid_fen, 0)
            - coalesce(totals.forfeited_fen, 0) as bigint
        ) as open_fen,
        coalesce(totals.funded_fen, 0) = coalesce(totals.paid_fen, 0)
        + coalesce(totals.forfeited_fen, 0) as is_closed,
        {{ run_ds() }} >= {{ calendar_end() }} as is_final
    from winners
    left join totals
        on winners.group_id = totals.group_id
)

select * from final
