with

source as (
    select * from {{ source('attribution', 'membership_intervals') }}
),

renamed as (
    select
        group_id,
        user_id,
        joined_at,
        left_at,
        cast(ds as date) as as_of_ds
    from source
    where cast(ds as date) <= {{ run_ds() }}
)

select * from renamed
