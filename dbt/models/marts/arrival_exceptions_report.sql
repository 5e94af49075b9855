{#
    Rows waiting for a parent (orphans) and rows that arrived after the freeze but
    happened before draw_open (late arrivals, reported and never applied), as known
    by the latest attribution run up to the run date, counted per source and landing date;
    and files: what sat in a landing date's folders but is not data (stray files, as the
    ingest of that date found them), and data files that arrived, changed or were removed
    after their date was ingested (as the run date's ingest found them; re-running the
    landing date reads them and clears the row), counted and named per source and landing date.
#}

with

orphans as (
    select * from {{ ref('stg_attribution__orphans') }}
),

late_arrivals as (
    select * from {{ ref('stg_attribution__late_arrivals') }}
),

stray_files as (
    select * from {{ ref('stg_lake__stray_files') }}
),

landing_changes as (
    select * from {{ ref('stg_lake__landing_changes') }}
),

latest as (
    select max(as_of_ds) as as_of_ds
    from orphans
),

exception_rows as (
    select
        as_of_ds,
        'orphan' as exception_kind,
        landing_source,
        arrival_ds
    from orphans
    union all
    select
        as_of_ds,
        'late arrival' as exception_kind,
        landing_source,
        arrival_ds
    from late_arrivals
),

exceptions as (
    select
        exception_rows.as_of_ds,
        exception_rows.exception_kind,
        exception_rows.landing_source,
        exception_rows.arrival_ds,
        count(*) as row_count,
        cast(null as varchar) as file_names
    from exception_rows
    inner join latest
        on exception_rows.as_of_ds = latest.as_of_ds
    group by
        exception_rows.as_of_ds,
        exception_rows.exception_kind,
        exception_rows.landing_source,
        exception_rows.arrival_ds
),

exception_files as (
    select
        arrival_ds as as_of_ds,
        'stray file' as exception_kind,
        landing_source,
        arrival_ds,
        landing_file
    from stray_files
    union all
    select
        as_of_ds,
        change_kind as exception_kind,
        landing_source,
        arrival_ds,
        landing_file
    from landing_changes
    where as_of_ds = {{ run_ds() }}
),

file_exceptions as (
    select
        as_of_ds,
        exception_kind,
        landing_source,
        arrival_ds,
        count(*) as row_count,
        string_agg(landing_file, ', ' order by landing_file) as file_names
    from exception_files
    group by
        as_of_ds,
        exception_kind,
        landing_source,
        arrival_ds
),

all_exceptions as (
    select * from exceptions
    union all
    select * from file_exceptions
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        as_of_ds,
        exception_kind,
        landing_source,
        arrival_ds,
        cast(row_count as bigint) as row_count,
        file_names
    from all_exceptions
)

select * from final
