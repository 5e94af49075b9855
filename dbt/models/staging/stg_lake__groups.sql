with

source as (
    {{ partitions_through_run_ds(source('lake', 'groups')) }}
),

renamed as (
    select
        group_id,
        creator_user_id,
        name as group_name,
        created_at,
        cast(ds as date) as arrival_ds
    from source
)

select * from renamed
