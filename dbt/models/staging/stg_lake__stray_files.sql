with

source as (
    {{ partitions_through_run_ds(source('lake', 'stray_files')) }}
),

renamed as (
    select
        source as landing_source,
        file as landing_file,
        path as landing_path,
        reason,
        cast(ds as date) as arrival_ds
    from source
)

select * from renamed
