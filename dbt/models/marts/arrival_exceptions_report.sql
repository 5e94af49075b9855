{#
    Rows waiting for a parent (orphans) and rows that arrived after the freeze but
    happened before draw_open (late arrivals, reported and never applied), as known
    by the latest attribution run up to the run date, counted per source and landing date.
#}

with

orphans as (
    select * from {{ ref('stg_attribution__orphans') }}
),

late_arrivals as (
    select * from {{ ref('stg_attribution__late_arrivals') }}
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
        count(*) as row_count
    from exception_rows
    inner join latest
        on exception_rows.as_of_ds = latest.as_of_ds
    group by
        exception_rows.as_of_ds,
        exception_rows.exception_kind,
        exception_rows.landing_source,
        exception_rows.arrival_ds
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        as_of_ds,
        exception_kind,
        landing_source,
        arrival_ds,
        cast(row_count as bigint) as row_count
    from exceptions
)

select * from final
