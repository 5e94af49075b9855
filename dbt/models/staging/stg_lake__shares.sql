with

source as (
    {{ partitions_through_run_ds(source('lake', 'shares')) }}
),

renamed as (
    select
        share_id,
        group_id,
        sharer_user_id,
        item_id,
        shared_at,
        client_version,
        file as landing_file,
        cast(line as bigint) as landing_line,
        cast(ds as date) as arrival_ds
    from source
)

select * from renamed
