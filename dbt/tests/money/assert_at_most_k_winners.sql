-- Money invariant: at most draw.winner_count groups win.

select count(*) as winners
from {{ ref('winner_list') }}
having count(*) > {{ draw_winner_count() }}
