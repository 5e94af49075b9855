with

winners as (
    select * from {{ ref('int_winners_drawn') }}
    where is_winner
),

triggers as (
    select * from {{ ref('int_triggers_observed') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        winners.group_id,
        winners.pool_fen,
        winners.red_packet_fen,
        winners.member_count_at_draw_open,
        triggers.triggered_at,
        triggers.trigger_status,
        triggers.trigger_observed_ds,
        triggers.claim_window_closes_at,
        winners.draw_rank,
        winners.draw_digest
    from winners
    inner join triggers
        on winners.group_id = triggers.group_id
)

select * from final
