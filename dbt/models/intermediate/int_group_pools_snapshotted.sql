with

group_pools as (
    select * from {{ ref('stg_attribution__group_pools') }}
),

snapshots as (
    select * from {{ ref('int_snapshots_chosen') }}
),

snapshotted as (
    select
        group_pools.group_id,
        group_pools.creator_user_id,
        group_pools.created_at,
        group_pools.creator_gender,
        group_pools.creator_naughty_value,
        group_pools.peak_members_before_draw,
        group_pools.member_count_at_draw_open,
        group_pools.pool_fen,
        group_pools.attributed_orders,
        group_pools.is_valid,
        group_pools.invalid_reason,
        group_pools.is_eligible,
        snapshots.snapshot_ds,
        snapshots.is_frozen
    from group_pools
    inner join snapshots
        on group_pools.as_of_ds = snapshots.snapshot_ds
)

select * from snapshotted
