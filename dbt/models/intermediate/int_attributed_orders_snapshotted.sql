with

attributed_orders as (
    select * from {{ ref('stg_attribution__attributed_orders') }}
),

snapshots as (
    select * from {{ ref('int_snapshots_chosen') }}
),

snapshotted as (
    select
        attributed_orders.order_id,
        attributed_orders.group_id,
        attributed_orders.share_id,
        attributed_orders.buyer_user_id,
        attributed_orders.sharer_user_id,
        attributed_orders.item_id,
        attributed_orders.shared_at,
        attributed_orders.first_paid_at,
        attributed_orders.paid_fen,
        attributed_orders.refunded_fen,
        attributed_orders.contribution_fen,
        snapshots.snapshot_ds,
        snapshots.is_frozen
    from attributed_orders
    inner join snapshots
        on attributed_orders.as_of_ds = snapshots.snapshot_ds
)

select * from snapshotted
