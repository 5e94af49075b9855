-- Ledger check on every date from the draw on: per winning group the ledger funds the
-- red packet, allocates all of it once triggered, pays what marts.payouts pays, forfeits
-- what marts.forfeitures forfeits, and never leaves less than 0 open; from calendar_end
-- on (every window closed) red packet = paid + forfeited, to the fen.

with

balances as (
    select * from {{ ref('red_packet_balances') }}
),

booked as (
    select
        group_id,
        amount_fen as paid_fen,
        0 as forfeited_fen
    from {{ ref('payouts') }}
    union all
    select
        group_id,
        0 as paid_fen,
        amount_fen as forfeited_fen
    from {{ ref('forfeitures') }}
),

marts_totals as (
    select
        group_id,
        sum(paid_fen) as paid_fen,
        sum(forfeited_fen) as forfeited_fen
    from booked
    group by group_id
)

select
    balances.group_id,
    balances.red_packet_fen,
    balances.funded_fen,
    balances.allocated_fen,
    balances.paid_fen,
    coalesce(marts_totals.paid_fen, 0) as payouts_fen,
    balances.forfeited_fen,
    coalesce(marts_totals.forfeited_fen, 0) as forfeitures_fen,
    balances.open_fen
from balances
left join marts_totals
    on balances.group_id = marts_totals.group_id
where
    balances.funded_fen <> balances.red_packet_fen
    or (balances.trigger_status = 'triggered' and balances.allocated_fen <> balances.red_packet_fen)
    or (balances.trigger_status <> 'triggered' and balances.allocated_fen <> 0)
    or balances.paid_fen <> coalesce(marts_totals.paid_fen, 0)
    or balances.forfeited_fen <> coalesce(marts_totals.forfeited_fen, 0)
    or balances.open_fen < 0
    or (balances.is_final and balances.open_fen <> 0)
