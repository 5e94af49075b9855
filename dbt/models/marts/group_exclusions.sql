with

pools as (
    select * from {{ ref('int_group_pools_snapshotted') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        group_id,
        invalid_reason as reason,
        pool_fen,
        member_count_at_draw_open,
        peak_members_before_draw,
        creator_user_id,
        snapshot_ds,
        is_frozen
    from pools
    where not is_valid
)

select * from final
