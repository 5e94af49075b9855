-- Money invariant: no (group, user) is paid twice.

select
    group_id,
    user_id,
    count(*) as payouts
from {{ ref('payouts') }}
group by group_id, user_id
having count(*) > 1
