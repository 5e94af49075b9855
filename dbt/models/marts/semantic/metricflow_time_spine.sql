{#
    One row per day, 2015 to 2035: the time spine MetricFlow joins metrics to
    (models/marts/semantic/_semantic__models.yml). Fixed, so it is tagged frozen.
#}

with

days as (
    select cast(day_start as date) as date_day
    from generate_series(
        cast('2015-01-01' as timestamp), cast('2035-12-31' as timestamp), interval '1 day'
    ) as spine (day_start)
)

select date_day from days
