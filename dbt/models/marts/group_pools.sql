with

pools as (
    select * from {{ ref('int_group_pools_snapshotted') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        group_id,
        pool_fen,
        member_count_at_draw_open,
        is_valid,
        is_eligible,
        invalid_reason,
        attributed_orders,
        peak_members_before_draw,
        creator_user_id,
        created_at,
        snapshot_ds,
        is_frozen
    from pools
    where pool_fen > 0
)

select * from final
