with

source as (
    {{ partitions_through_run_ds(source('attribution', 'orphans')) }}
),

renamed as (
    select
        source as landing_source,
        row_key,
        parent_source,
        parent_id,
        cast(arrival_ds as date) as arrival_ds,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
