{#
    Money that will not be paid, as known on the run date: a part > 0 whose claim
    window has closed before the end of the run date without an accepted claim, and
    the whole red packet of a winner not triggered within the claim window after
    draw_open. A claim or draws event made in time can still arrive late and undo a
    forfeiture, so rows are final only from calendar_end on (is_final).
#}

with

parts as (
    select * from {{ ref('int_splits_allocated') }}
    where split_fen > 0
),

triggers as (
    select * from {{ ref('int_triggers_observed') }}
),

accepted_claims as (
    select * from {{ ref('int_claims_matched') }}
    where is_accepted
),

unclaimed_parts as (
    select
        parts.group_id,
        parts.user_id,
        parts.split_fen as amount_fen,
        'unclaimed' as reason,
        triggers.claim_window_closes_at as window_closed_at
    from parts
    inner join triggers
        on parts.group_id = triggers.group_id
    left join accepted_claims
        on
            parts.group_id = accepted_claims.group_id
            and parts.user_id = accepted_claims.user_id
    where
        accepted_claims.claim_event_id is null
        and triggers.claim_window_closes_at < {{ run_ds_end() }}
),

untriggered_packets as (
    select
        group_id,
        cast(null as varchar) as user_id,
        red_packet_fen as amount_fen,
        trigger_status as reason,
        trigger_deadline as window_closed_at
    from triggers
    where trigger_status = 'not triggered within the claim window'
),

forfeited as (
    select * from unclaimed_parts
    union all
    select * from untriggered_packets
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        group_id,
        user_id,
        amount_fen,
        reason,
        window_closed_at,
        {{ run_ds() }} >= {{ calendar_end() }} as is_final
    from forfeited
)

select * from final
