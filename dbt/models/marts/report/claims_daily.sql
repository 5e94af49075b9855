{#
    Claims events per landing date: received, accepted (a payout) and rejected, and the
    fen they pay, as known on the run date; for the campaign report's claims chart.
#}

with

claims as (
    select * from {{ ref('int_claims_matched') }}
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        arrival_ds,
        count(*) as claims_received,
        count(case when is_accepted then 1 end) as claims_accepted,
        count(case when not is_accepted then 1 end) as claims_rejected,
        cast(coalesce(sum(case when is_accepted then amount_fen end), 0) as bigint)
            as accepted_fen
    from claims
    group by arrival_ds
)

select * from final
