with

attributed_orders as (
    select * from {{ ref('int_attributed_orders_snapshotted') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        order_id,
        group_id,
        share_id,
        buyer_user_id,
        sharer_user_id,
        item_id,
        shared_at,
        first_paid_at,
        paid_fen,
        refunded_fen,
        contribution_fen,
        snapshot_ds,
        is_frozen
    from attributed_orders
)

select * from final
