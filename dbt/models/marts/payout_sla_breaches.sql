{#
    Payouts whose due_by (claimed_at + payout_sla_hours) passed before the nightly run
    that produces their batch file was scheduled (the day after export_ds at
    nightly_run_at, campaign timezone): finance cannot pay them in time from the file.
    cause says why the file came late.
#}

with

payouts as (
    select * from {{ ref('payouts') }}
),

ledger as (
    select * from {{ ref('payout_ledger') }}
    where entry_type = 'payout_exported'
),

scheduled as (
    select
        payouts.payout_id,
        payouts.group_id,
        payouts.user_id,
        payouts.amount_fen,
        payouts.claimed_at,
        payouts.due_by,
        payouts.claim_arrival_ds,
        payouts.export_ds,
        ledger.batch_id,
        ledger.file_name,
        {{ nightly_run_at('payouts.export_ds') }} as file_scheduled_at,
        {{ local_date('payouts.claimed_at') }} as claimed_ds
    from payouts
    inner join ledger
        on payouts.payout_id = ledger.payout_id
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        payout_id,
        group_id,
        user_id,
        amount_fen,
        claimed_at,
        due_by,
        claim_arrival_ds,
        export_ds,
        batch_id,
        file_name,
        file_scheduled_at,
        case
            when export_ds > claim_arrival_ds then 'trigger observed after the claim arrived'
            when claim_arrival_ds > claimed_ds then 'claim arrived after the day it was made'
            else 'due before the nightly run after the claim arrived'
        end as cause
    from scheduled
    where due_by < file_scheduled_at
)

select * from final
