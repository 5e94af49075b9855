{#
    Bad input by landing date, source and reason, with the source's totals of that day
    and whether the day passed quality.max_bad_row_rate; one example location per reason.
#}

with

quarantine as (
    select * from {{ ref('stg_lake__quarantine') }}
),

ingest_reports as (
    select * from {{ ref('stg_lake__ingest_reports') }}
),

numbered as (
    select
        arrival_ds,
        landing_source,
        reason,
        landing_file,
        landing_line,
        count(*) over (partition by arrival_ds, landing_source, reason) as quarantined_rows,
        row_number() over (
            partition by arrival_ds, landing_source, reason
            order by {{ bytewise('landing_file') }}, landing_line
        ) as example_order
    from quarantine
),

final as (
    select
        numbered.arrival_ds,
        numbered.landing_source,
        numbered.reason,
        cast(numbered.quarantined_rows as bigint) as quarantined_rows,
        numbered.landing_file as example_file,
        numbered.landing_line as example_line,
        ingest_reports.rows_read as source_rows_read,
        ingest_reports.rows_bad as source_rows_bad,
        ingest_reports.bad_rate as source_bad_rate,
        ingest_reports.max_bad_row_rate,
        ingest_reports.is_passed
    from numbered
    left join ingest_reports
        on
            numbered.arrival_ds = ingest_reports.arrival_ds
            and numbered.landing_source = ingest_reports.landing_source
    where numbered.example_order = 1
)

select * from final
