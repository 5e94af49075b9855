-- Money invariant: every payout pays exactly a member's part of a winning group.

select
    payouts.payout_id,
    payouts.group_id,
    payouts.user_id,
    payouts.amount_fen,
    member_splits.split_fen
from {{ ref('payouts') }} as payouts
left join {{ ref('member_splits') }} as member_splits
    on
        payouts.group_id = member_splits.group_id
        and payouts.user_id = member_splits.user_id
where member_splits.split_fen is null or member_splits.split_fen <> payouts.amount_fen
