with

parts as (
    select * from {{ ref('int_splits_allocated') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        group_id,
        user_id,
        contribution_fen,
        split_fen,
        red_packet_fen,
        group_contribution_fen,
        triggered_at
    from parts
    where split_fen > 0
)

select * from final
