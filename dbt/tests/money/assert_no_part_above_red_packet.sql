-- Money invariant: no member's part is larger than their group's red packet.

select
    member_splits.group_id,
    member_splits.user_id,
    member_splits.split_fen,
    winner_list.red_packet_fen
from {{ ref('member_splits') }} as member_splits
inner join {{ ref('winner_list') }} as winner_list
    on member_splits.group_id = winner_list.group_id
where member_splits.split_fen > winner_list.red_packet_fen
