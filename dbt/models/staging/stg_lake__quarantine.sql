with

source as (
    select * from {{ source('lake', 'quarantine') }}
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
    where cast(ds as date) <= {{ run_ds() }}
)

select * from renamed
