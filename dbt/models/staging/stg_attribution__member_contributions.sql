with

source as (
    {{ partitions_through_run_ds(source('attribution', 'member_contributions')) }}
),

renamed as (
    select
        group_id,
        user_id,
        cast(contribution_fen as bigint) as contribution_fen,
        cast(attributed_orders as bigint) as attributed_orders,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
