-- Money invariant: every winner's red packet = min(frozen pool, red_packet_cap_fen), and the
-- pool on the winner list is the frozen pool.

with

winners as (
    select * from {{ ref('winner_list') }}
),

frozen_pools as (
    select * from {{ ref('int_group_pools_snapshotted') }}
    where is_frozen
)

select
    winners.group_id,
    winners.pool_fen,
    frozen_pools.pool_fen as frozen_pool_fen,
    winners.red_packet_fen
from winners
left join frozen_pools
    on winners.group_id = frozen_pools.group_id
where
    frozen_pools.pool_fen is null
    or winners.pool_fen <> frozen_pools.pool_fen
    or winners.red_packet_fen <> least(frozen_pools.pool_fen, {{ red_packet_cap_fen() }})
