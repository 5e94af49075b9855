with

drawn as (
    select * from {{ ref('int_winners_drawn') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        group_id,
        pool_fen,
        member_count_at_draw_open,
        draw_digest,
        draw_rank,
        is_winner,
        {{ draw_seed_sha256() }} as draw_seed_sha256
    from drawn
)

select * from final
