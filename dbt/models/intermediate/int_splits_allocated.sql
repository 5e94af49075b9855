{#
    The split (docs/rules.md §4), in integer fen only. With P the red packet, c_u a splitter's
    contribution and C their sum: if C > 0 each gets floor(P * c_u / C); if C = 0 the
    weights are all 1 (an equal split). The P - sum(floor) leftover fen go one each to
    the largest remainders (P * c_u mod C), ties by smallest user_id. Parts always sum
    to P. One row per splitter, parts of 0 fen included (member_splits drops them).
#}

with

splitters as (
    select * from {{ ref('int_splitters_identified') }}
),

group_totals as (
    select
        group_id,
        user_id,
        red_packet_fen,
        triggered_at,
        contribution_fen,
        sum(contribution_fen) over (partition by group_id) as group_contribution_fen,
        count(*) over (partition by group_id) as splitter_count
    from splitters
),

weighted as (
    select
        *,
        case when group_contribution_fen > 0 then contribution_fen else 1 end as weight,
        case
            when group_contribution_fen > 0 then group_contribution_fen else splitter_count
        end as total_weight
    from group_totals
),

floored as (
    select
        *,
        cast(
            {{ int_div(wide_int('red_packet_fen') ~ ' * weight', 'total_weight') }} as bigint
        ) as floor_fen,
        cast(
            ({{ wide_int('red_packet_fen') }} * weight) % total_weight as bigint
        ) as split_remainder
    from weighted
),

ranked as (
    select
        *,
        red_packet_fen - sum(floor_fen) over (partition by group_id) as leftover_fen,
        row_number() over (
            partition by group_id
            order by split_remainder desc, {{ bytewise('user_id') }}
        ) as remainder_rank
    from floored
),

allocated as (
    select
        group_id,
        user_id,
        red_packet_fen,
        triggered_at,
        cast(contribution_fen as bigint) as contribution_fen,
        cast(group_contribution_fen as bigint) as group_contribution_fen,
        cast(floor_fen as bigint) as floor_fen,
        cast(split_remainder as bigint) as split_remainder,
        cast(remainder_rank as integer) as remainder_rank,
        cast(
            floor_fen + case when remainder_rank <= leftover_fen then 1 else 0 end as bigint
        ) as split_fen
    from ranked
)

select * from allocated
