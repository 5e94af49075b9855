with

source as (
    {{ partitions_through_run_ds(source('lake', 'dq_results')) }}
),

renamed as (
    select
        cast(run_ds as date) as run_ds,
        stage,
        suite,
        table_name,
        expectation,
        column_name,
        rule,
        severity,
        success as is_success,
        observed_value,
        cast(element_count as bigint) as element_count,
        cast(unexpected_count as bigint) as unexpected_count,
        unexpected_sample
    from source
)

select * from renamed
