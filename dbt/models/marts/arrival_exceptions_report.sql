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

orphan_counts as (
    select
        orphans.as_of_ds,
        'orphan' as exception_kind,
        orphans.landing_source,
        orphans.arrival_ds,
        count(*) as row_count
    from orphans
    inner join latest
        on orphans.as_of_ds = latest.as_of_ds
    group by orphans.as_of_ds, orphans.landing_source, orphans.arrival_ds
),

late_counts as (
    select
        late_arrivals.as_of_ds,
        'late arrival' as exception_kind,
        late_arrivals.landing_source,
        late_arrivals.arrival_ds,
        count(*) as row_count
    from late_arrivals
    inner join latest
        on late_arrivals.as_of_ds = latest.as_of_ds
    group by late_arrivals.as_of_ds, late_arrivals.landing_source, late_arrivals.arrival_ds
),

exceptions as (
    select * from orphan_counts
    union all
    select * from late_counts
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
