-- Money invariant: per winning group, paid + forfeited never exceeds the red packet, no
-- part is both paid and forfeited, and from calendar_end on (every window closed, the
-- forfeitures final) paid + forfeited is exactly the red packet.

with

winners as (
    select * from {{ ref('int_triggers_observed') }}
),

paid as (
    select
        group_id,
        sum(amount_fen) as paid_fen
    from {{ ref('payouts') }}
    group by group_id
),

forfeited as (
    select
        group_id,
        sum(amount_fen) as forfeited_fen
    from {{ ref('forfeitures') }}
    group by group_id
),

paid_and_forfeited as (
    select
        payouts.group_id,
        payouts.user_id
    from {{ ref('payouts') }} as payouts
    inner join {{ ref('forfeitures') }} as forfeitures
        on
            payouts.group_id = forfeitures.group_id
            and (forfeitures.user_id is null or payouts.user_id = forfeitures.user_id)
),

balances as (
    select
        winners.group_id,
        winners.red_packet_fen,
        coalesce(paid.paid_fen, 0) as paid_fen,
        coalesce(forfeited.forfeited_fen, 0) as forfeited_fen
    from winners
    left join paid
        on winners.group_id = paid.group_id
    left join forfeited
        on winners.group_id = forfeited.group_id
)

select
    group_id,
    red_packet_fen,
    paid_fen,
    forfeited_fen
from balances
where
    paid_fen + forfeited_fen > red_packet_fen
    or (
        {{ run_ds() }} >= {{ calendar_end() }}
        and paid_fen + forfeited_fen <> red_packet_fen
    )
    or group_id in (select paid_and_forfeited.group_id from paid_and_forfeited)
