with

source as (
    {{ partitions_through_run_ds(source('attribution', 'group_pools')) }}
),

renamed as (
    select
        group_id,
        creator_user_id,
        created_at,
        creator_gender,
        cast(creator_naughty_value as bigint) as creator_naughty_value,
        cast(peak_members_before_draw as integer) as peak_members_before_draw,
        cast(member_count_at_draw_open as integer) as member_count_at_draw_open,
        cast(pool_fen as bigint) as pool_fen,
        cast(attributed_orders as bigint) as attributed_orders,
        is_valid,
        invalid_reason,
        is_eligible,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
