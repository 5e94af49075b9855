{#
    Which attribution partition pools, contributions and attributed orders are read from:
    the latest one on or before min(run date, freeze date). From the freeze date on, that
    is the frozen snapshot (ds = date of draw_open) and never changes; before it, the
    day's provisional standings. No row until the attribution job has run once.
#}

with

pools as (
    select * from {{ ref('stg_attribution__group_pools') }}
),

latest as (
    select max(as_of_ds) as snapshot_ds
    from pools
    where as_of_ds <= least({{ run_ds() }}, {{ freeze_ds() }})
)

select
    snapshot_ds,
    snapshot_ds = {{ freeze_ds() }} as is_frozen
from latest
where snapshot_ds is not null
