-- Money invariant: for every triggered winning group, the parts (0-fen parts included)
-- sum to exactly the red packet. Returns the groups where they do not.

with

triggered as (
    select * from {{ ref('int_triggers_observed') }}
    where triggered_at is not null
),

parts as (
    select
        group_id,
        sum(split_fen) as parts_fen
    from {{ ref('int_splits_allocated') }}
    group by group_id
)

select
    triggered.group_id,
    triggered.red_packet_fen,
    parts.parts_fen
from triggered
left join parts
    on triggered.group_id = parts.group_id
where parts.parts_fen is null or parts.parts_fen <> triggered.red_packet_fen
