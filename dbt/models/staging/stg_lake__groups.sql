with

source as (
    select * from {{ source('lake', 'groups') }}
),

renamed as (
    select
        group_id,
        creator_user_id,
        name as group_name,
        created_at,
        cast(ds as date) as arrival_ds
    from source
    where cast(ds as date) <= {{ run_ds() }}
)

select * from renamed
