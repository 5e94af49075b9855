{#
    Arrivals and data quality per landing date and source: rows read, ingested and
    quarantined, the bad-row rate against quality.max_bad_row_rate, and the rows the
    latest attribution run reports as late arrivals or orphans, for the campaign report.
#}

with

ingest_reports as (
    select * from {{ ref('stg_lake__ingest_reports') }}
),

exceptions as (
    select * from {{ ref('arrival_exceptions_report') }}
),

row_exceptions as (
    select
        arrival_ds,
        landing_source,
        sum(case when exception_kind = 'late arrival' then row_count else 0 end) as late_rows,
        sum(case when exception_kind = 'orphan' then row_count else 0 end) as orphan_rows
    from exceptions
    where exception_kind in ('late arrival', 'orphan')
    group by arrival_ds, landing_source
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        ingest_reports.arrival_ds,
        ingest_reports.landing_source,
        ingest_reports.rows_read,
        ingest_reports.rows_ingested,
        ingest_reports.rows_duplicate,
        ingest_reports.rows_bad as rows_quarantined,
        cast(coalesce(row_exceptions.late_rows, 0) as bigint) as late_rows,
        cast(coalesce(row_exceptions.orphan_rows, 0) as bigint) as orphan_rows,
        ingest_reports.bad_rate,
        ingest_reports.max_bad_row_rate,
        ingest_reports.is_passed
    from ingest_reports
    left join row_exceptions
        on
            ingest_reports.arrival_ds = row_exceptions.arrival_ds
            and ingest_reports.landing_source = row_exceptions.landing_source
)

select * from final
