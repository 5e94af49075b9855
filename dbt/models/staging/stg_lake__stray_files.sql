with

source as (
    select * from {{ source('lake', 'stray_files') }}
),

renamed as (
    select
        source as landing_source,
        file as landing_file,
        path as landing_path,
        reason,
        cast(ds as date) as arrival_ds
    from source
    where cast(ds as date) <= {{ run_ds() }}
)

select * from renamed
