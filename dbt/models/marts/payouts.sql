with

claims as (
    select * from {{ ref('int_claims_matched') }}
    where is_accepted
),

final as (
    select
        substr(
            {{ sha256_hex(campaign_id() ~ " || ':' || group_id || ':' || user_id") }}, 1, 32
        ) as payout_id,
        {{ campaign_id() }} as campaign_id,
        group_id,
        user_id,
        amount_fen,
        claimed_at,
        due_by,
        export_ds,
        claim_event_id,
        arrival_ds as claim_arrival_ds
    from claims
)

select * from final
