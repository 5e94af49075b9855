with

claims as (
    select * from {{ ref('int_claims_matched') }}
    where not is_accepted
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        claim_event_id,
        group_id,
        user_id,
        claimed_at,
        arrival_ds,
        rejection_reason,
        triggered_at,
        claim_window_closes_at
    from claims
)

select * from final
