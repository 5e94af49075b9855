with

source as (
    {{ partitions_through_run_ds(source('lake', 'quarantine')) }}
),

renamed as (
    select
        source as landing_source,
        file as landing_file,
        cast(line as bigint) as landing_line,
        reason,
        raw as raw_line,
        cast(ds as date) as arrival_ds
    from source
)

select * from renamed
