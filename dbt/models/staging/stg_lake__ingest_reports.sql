with

source as (
    {{ partitions_through_run_ds(source('lake', 'ingest_report')) }}
),

renamed as (
    select
        source as landing_source,
        cast(rows as bigint) as rows_read,
        cast(ingested as bigint) as rows_ingested,
        cast(duplicates as bigint) as rows_duplicate,
        cast(bad as bigint) as rows_bad,
        bad_rate,
        max_bad_row_rate,
        passed as is_passed,
        cast(ds as date) as arrival_ds
    from source
)

select * from renamed
