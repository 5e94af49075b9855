{#
    Pools by day: every attribution partition up to the run date (and never after the
    freeze date), one row per group with a pool > 0 on that day.
#}

with

pools as (
    select * from {{ ref('stg_attribution__group_pools') }}
    where as_of_ds <= least({{ run_ds() }}, {{ freeze_ds() }})
),

ranked as (
    select
        as_of_ds as standing_ds,
        group_id,
        pool_fen,
        attributed_orders,
        member_count_at_draw_open,
        is_valid,
        is_eligible,
        rank() over (partition by as_of_ds order by pool_fen desc) as pool_rank,
        pool_fen - coalesce(
            lag(pool_fen) over (partition by group_id order by as_of_ds), 0
        ) as pool_change_fen
    from pools
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        standing_ds,
        group_id,
        pool_fen,
        cast(pool_change_fen as bigint) as pool_change_fen,
        cast(pool_rank as integer) as pool_rank,
        attributed_orders,
        member_count_at_draw_open,
        is_valid,
        is_eligible,
        standing_ds = {{ freeze_ds() }} as is_frozen
    from ranked
    where pool_fen > 0
)

select * from final
