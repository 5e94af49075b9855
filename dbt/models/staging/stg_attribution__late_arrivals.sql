with

source as (
    {{ partitions_through_run_ds(source('attribution', 'late_arrivals')) }}
),

renamed as (
    select
        source as landing_source,
        row_key,
        event_time,
        cast(arrival_ds as date) as arrival_ds,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
