with

source as (
    {{ partitions_through_run_ds(source('attribution', 'attributed_orders')) }}
),

renamed as (
    select
        order_id,
        group_id,
        share_id,
        buyer_user_id,
        sharer_user_id,
        item_id,
        shared_at,
        first_paid_at,
        cast(paid_fen as bigint) as paid_fen,
        cast(refunded_fen as bigint) as refunded_fen,
        cast(contribution_fen as bigint) as contribution_fen,
        cast(ds as date) as as_of_ds
    from source
)

select * from renamed
