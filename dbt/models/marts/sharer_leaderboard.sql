{# Attributed sales per sharer, across groups; no buyer appears here. #}

with

attributed_orders as (
    select * from {{ ref('int_attributed_orders_snapshotted') }}
),

per_sharer as (
    select
        sharer_user_id,
        count(distinct group_id) as groups,
        count(distinct share_id) as converted_shares,
        count(*) as attributed_orders,
        sum(paid_fen) as paid_fen,
        sum(contribution_fen) as attributed_sales_fen,
        max(snapshot_ds) as snapshot_ds,
        bool_or(is_frozen) as is_frozen
    from attributed_orders
    group by sharer_user_id
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        cast(rank() over (order by attributed_sales_fen desc) as integer) as sharer_rank,
        sharer_user_id,
        cast(attributed_sales_fen as bigint) as attributed_sales_fen,
        cast(paid_fen as bigint) as paid_fen,
        cast(attributed_orders as bigint) as attributed_orders,
        cast(converted_shares as bigint) as converted_shares,
        cast(groups as bigint) as groups,
        snapshot_ds,
        is_frozen
    from per_sharer
)

select * from final
