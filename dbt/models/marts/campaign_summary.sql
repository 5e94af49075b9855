{#
    One row: the campaign as of the run date, from groups and shares to money paid
    and forfeited. Money totals come from the marts, so they reconcile with them.
#}

with

snapshots as (
    select * from {{ ref('int_snapshots_chosen') }}
),

pools as (
    select * from {{ ref('int_group_pools_snapshotted') }}
),

attributed_orders as (
    select * from {{ ref('int_attributed_orders_snapshotted') }}
),

intervals as (
    select * from {{ ref('stg_attribution__membership_intervals') }}
),

shares as (
    select * from {{ ref('stg_lake__shares') }}
),

winners as (
    select * from {{ ref('winner_list') }}
),

splits as (
    select * from {{ ref('member_splits') }}
),

payouts as (
    select * from {{ ref('payouts') }}
),

forfeitures as (
    select * from {{ ref('forfeitures') }}
),

rejected_claims as (
    select * from {{ ref('fct_rejected_claims') }}
),

quarantine as (
    select * from {{ ref('stg_lake__quarantine') }}
),

snapshot_facts as (
    select
        max(snapshot_ds) as snapshot_ds,
        coalesce(bool_or(is_frozen), false) as is_frozen
    from snapshots
),

group_facts as (
    select
        count(*) as groups,
        count(case when is_valid then 1 end) as valid_groups,
        count(case when is_eligible then 1 end) as eligible_groups,
        coalesce(sum(member_count_at_draw_open), 0) as memberships_at_draw_open,
        coalesce(sum(pool_fen), 0) as pools_fen,
        coalesce(sum(case when is_eligible then pool_fen else 0 end), 0) as eligible_pools_fen
    from pools
),

member_facts as (
    select count(distinct intervals.user_id) as members
    from intervals
    inner join snapshot_facts
        on intervals.as_of_ds = snapshot_facts.snapshot_ds
),

share_facts as (
    select count(*) as shares
    from shares
    inner join snapshot_facts
        on shares.arrival_ds <= snapshot_facts.snapshot_ds
),

order_facts as (
    select
        count(*) as attributed_orders,
        count(distinct share_id) as converted_shares,
        coalesce(sum(contribution_fen), 0) as attributed_sales_fen
    from attributed_orders
),

winner_facts as (
    select
        count(*) as winners,
        count(case when trigger_status = 'triggered' then 1 end) as triggered_winners,
        coalesce(sum(red_packet_fen), 0) as red_packets_fen
    from winners
),

split_facts as (
    select
        count(*) as splits,
        coalesce(sum(split_fen), 0) as split_fen
    from splits
),

payout_facts as (
    select
        count(*) as payouts,
        coalesce(sum(amount_fen), 0) as paid_fen
    from payouts
),

forfeiture_facts as (
    select
        count(*) as forfeitures,
        coalesce(sum(amount_fen), 0) as forfeited_fen
    from forfeitures
),

claim_facts as (
    select count(*) as rejected_claims
    from rejected_claims
),

quarantine_facts as (
    select count(*) as quarantined_rows
    from quarantine
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        {{ run_ds() }} as run_ds,
        snapshot_facts.snapshot_ds,
        snapshot_facts.is_frozen,
        cast(group_facts.groups as bigint) as groups,
        cast(group_facts.valid_groups as bigint) as valid_groups,
        cast(group_facts.eligible_groups as bigint) as eligible_groups,
        cast(member_facts.members as bigint) as members,
        cast(group_facts.memberships_at_draw_open as bigint) as memberships_at_draw_open,
        cast(share_facts.shares as bigint) as shares,
        cast(order_facts.converted_shares as bigint) as converted_shares,
        round(
            1.0 * order_facts.converted_shares / nullif(share_facts.shares, 0), 4
        ) as share_to_purchase_conversion,
        cast(order_facts.attributed_orders as bigint) as attributed_orders,
        cast(order_facts.attributed_sales_fen as bigint) as attributed_sales_fen,
        cast(group_facts.pools_fen as bigint) as pools_fen,
        cast(group_facts.eligible_pools_fen as bigint) as eligible_pools_fen,
        cast(winner_facts.winners as bigint) as winners,
        cast(winner_facts.triggered_winners as bigint) as triggered_winners,
        cast(winner_facts.red_packets_fen as bigint) as red_packets_fen,
        cast(split_facts.splits as bigint) as splits,
        cast(split_facts.split_fen as bigint) as split_fen,
        cast(payout_facts.payouts as bigint) as payouts,
        cast(payout_facts.paid_fen as bigint) as paid_fen,
        cast(forfeiture_facts.forfeitures as bigint) as forfeitures,
        cast(forfeiture_facts.forfeited_fen as bigint) as forfeited_fen,
        cast(claim_facts.rejected_claims as bigint) as rejected_claims,
        cast(quarantine_facts.quarantined_rows as bigint) as quarantined_rows,
        {{ run_ds() }} >= {{ calendar_end() }} as is_final
    from snapshot_facts
    cross join group_facts
    cross join member_facts
    cross join share_facts
    cross join order_facts
    cross join winner_facts
    cross join split_facts
    cross join payout_facts
    cross join forfeiture_facts
    cross join claim_facts
    cross join quarantine_facts
)

select * from final
