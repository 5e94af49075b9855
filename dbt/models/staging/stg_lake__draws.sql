with

source as (
    select * from {{ source('lake', 'draws') }}
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
    where cast(ds as date) <= {{ run_ds() }}
)

select * from renamed
