with

source as (
    {{ partitions_through_run_ds(source('lake', 'draws')) }}
),

renamed as (
    select
        event_id as draw_event_id,
        group_id,
        user_id,
        drawn_at,
        file as landing_file,
        cast(line as bigint) as landing_line,
        cast(ds as date) as arrival_ds
    from source
)

select * from renamed
