-- Money invariant: the winners are a subset of the eligible groups of the frozen snapshot.

with

eligible as (
    select * from {{ ref('int_group_pools_snapshotted') }}
    where is_frozen and is_eligible
)

select winner_list.group_id
from {{ ref('winner_list') }} as winner_list
left join eligible
    on winner_list.group_id = eligible.group_id
where eligible.group_id is null
