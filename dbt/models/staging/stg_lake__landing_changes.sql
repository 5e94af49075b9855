with

source as (
    {{ partitions_through_run_ds(source('lake', 'landing_changes')) }}
),

renamed as (
    select
        source as landing_source,
        file as landing_file,
        change as change_kind,
        cast(arrival_ds as date) as arrival_ds,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
