{#
    Every expectation the quality gates ran up to the run date, per run date and stage
    (docs/quality.md). The landing and attribution gates of a date run before its build.
#}

with

results as (
    select * from {{ ref('stg_lake__dq_results') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        run_ds,
        stage,
        suite,
        table_name,
        expectation,
        column_name,
        rule,
        severity,
        is_success,
        observed_value,
        element_count,
        unexpected_count,
        unexpected_sample
    from results
)

select * from final
