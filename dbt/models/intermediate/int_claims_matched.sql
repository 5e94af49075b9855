{#
    Every claims event visible on the run date, matched to a part or rejected with a
    reason (docs/rules.md §4). A claim is valid when its group won and was triggered, its user is
    a splitter with a part > 0, and trigger <= claimed_at <= trigger + claim window.

    First-observed, so a payout once exported keeps its date and amount: a valid claim
    becomes visible on observed_ds = the later of its landing date and the day the
    trigger was observed; per splitter the accepted claim is the valid one observed
    first (then earliest claimed_at, then event_id). Later valid claims are duplicates,
    even when their claimed_at is earlier (they arrived late).
#}

with

claims as (
    select * from {{ ref('stg_lake__claims') }}
),

winners as (
    select * from {{ ref('int_winners_drawn') }}
    where is_winner
),

triggers as (
    select * from {{ ref('int_triggers_observed') }}
),

parts as (
    select * from {{ ref('int_splits_allocated') }}
),

checked as (
    select
        claims.claim_event_id,
        claims.group_id,
        claims.user_id,
        claims.claimed_at,
        claims.arrival_ds,
        parts.split_fen,
        triggers.triggered_at,
        triggers.claim_window_closes_at,
        case
            when winners.group_id is null then 'group not a winner'
            when triggers.triggered_at is null then 'group not triggered'
            when parts.user_id is null then 'not a splitter'
            when parts.split_fen = 0 then 'part of 0 fen'
            when claims.claimed_at < triggers.triggered_at then 'before trigger'
            when claims.claimed_at > triggers.claim_window_closes_at then 'after claim window'
        end as invalid_reason,
        greatest(claims.arrival_ds, triggers.trigger_observed_ds) as observed_ds
    from claims
    left join winners
        on claims.group_id = winners.group_id
    left join triggers
        on claims.group_id = triggers.group_id
    left join parts
        on
            claims.group_id = parts.group_id
            and claims.user_id = parts.user_id
),

ordered as (
    select
        *,
        row_number() over (
            partition by group_id, user_id, invalid_reason is null
            order by observed_ds, claimed_at, {{ bytewise('claim_event_id') }}
        ) as valid_claim_order
    from checked
),

matched as (
    select
        claim_event_id,
        group_id,
        user_id,
        claimed_at,
        arrival_ds,
        triggered_at,
        claim_window_closes_at,
        invalid_reason is null and valid_claim_order = 1 as is_accepted,
        case
            when invalid_reason is not null then invalid_reason
            when valid_claim_order > 1 then 'duplicate'
        end as rejection_reason,
        case
            when invalid_reason is null and valid_claim_order = 1 then split_fen
        end as amount_fen,
        case
            when invalid_reason is null and valid_claim_order = 1 then observed_ds
        end as export_ds,
        case
            when invalid_reason is null and valid_claim_order = 1
                then claimed_at + {{ payout_sla() }}
        end as due_by
    from ordered
)

select * from matched
