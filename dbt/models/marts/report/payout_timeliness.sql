{#
    Per payout, the hours from the claim to the nightly run that produces its payout file
    (nightly_run_at, as payout_sla_breaches counts it), against due_by = claimed_at +
    payout_sla_hours: a claim that lands late reaches finance late, whatever finance does.
#}

with

payouts as (
    select * from {{ ref('payouts') }}
),

scheduled as (
    select
        payout_id,
        group_id,
        export_ds,
        claimed_at,
        due_by,
        {{ nightly_run_at('export_ds') }} as file_scheduled_at
    from payouts
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        payout_id,
        group_id,
        export_ds,
        claimed_at,
        due_by,
        file_scheduled_at,
        -- double precision on every warehouse (Postgres' extract gives numeric)
        cast(
            round(extract(epoch from file_scheduled_at - claimed_at) / 3600.0, 2)
            as double precision
        ) as hours_to_file,
        file_scheduled_at <= due_by as is_file_before_due
    from scheduled
)

select * from final
