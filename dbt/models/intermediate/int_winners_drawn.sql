{#
    The draw (docs/rules.md §4): among the eligible groups of the frozen snapshot, the
    draw_winner_count groups with the smallest lowercase-hex SHA-256 of
    '<seed>:<group_id>' win (ties are impossible; group_id breaks them anyway).
    One row per eligible group, so the draw can be audited and re-run.
    Without the seed (runs before the freeze date) there is no draw: no rows.
#}

{%- set seed = draw_seed() %}
{%- if seed is none %}
    {%- set digest = "cast(null as varchar)" %}
{%- else %}
    {%- set digest = sha256_hex(text_literal(seed) ~ " || ':' || group_id") %}
{%- endif %}

with

pools as (
    select * from {{ ref('int_group_pools_snapshotted') }}
),

eligible as (
    select
        group_id,
        pool_fen,
        member_count_at_draw_open
    from pools
    where
        is_frozen
        and is_eligible
        and {{ 'true' if seed is not none else 'false' }}  -- no seed, no draw
),

digested as (
    select
        group_id,
        pool_fen,
        member_count_at_draw_open,
        {{ digest }} as draw_digest
    from eligible
),

ranked as (
    select
        group_id,
        pool_fen,
        member_count_at_draw_open,
        draw_digest,
        row_number() over (
            order by {{ bytewise('draw_digest') }}, {{ bytewise('group_id') }}
        ) as draw_rank
    from digested
),

drawn as (
    select
        group_id,
        pool_fen,
        member_count_at_draw_open,
        draw_digest,
        cast(draw_rank as integer) as draw_rank,
        draw_rank <= {{ draw_winner_count() }} as is_winner,
        case
            when draw_rank <= {{ draw_winner_count() }}
                then least(pool_fen, {{ red_packet_cap_fen() }})
        end as red_packet_fen
    from ranked
)

select * from drawn
