with

source as (
    {{ partitions_through_run_ds(source('attribution', 'membership_intervals')) }}
),

renamed as (
    select
        group_id,
        user_id,
        joined_at,
        left_at,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
