{#
    Every group whose creation arrived by the run date, with its name: the public winner
    list shows a masked form of it (grouprebate/publish/winner_list.py), so winners can
    recognise their group without its id.
#}

with

groups as (
    select * from {{ ref('stg_lake__groups') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        group_id,
        group_name,
        creator_user_id,
        created_at,
        arrival_ds
    from groups
)

select * from final
