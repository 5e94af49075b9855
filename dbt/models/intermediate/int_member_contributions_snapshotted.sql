with

member_contributions as (
    select * from {{ ref('stg_attribution__member_contributions') }}
),

snapshots as (
    select * from {{ ref('int_snapshots_chosen') }}
),

snapshotted as (
    select
        member_contributions.group_id,
        member_contributions.user_id,
        member_contributions.contribution_fen,
        member_contributions.attributed_orders,
        snapshots.snapshot_ds,
        snapshots.is_frozen
    from member_contributions
    inner join snapshots
        on member_contributions.as_of_ds = snapshots.snapshot_ds
)

select * from snapshotted
