{#
    Splitters (docs/rules.md §4): the members of a triggered winning group at the trigger
    instant, by the membership intervals known on the day the trigger was observed,
    so a membership event arriving later never changes a split once made. Each comes
    with their frozen contribution in the group (0 when they bought nothing attributed).
#}

with

triggers as (
    select * from {{ ref('int_triggers_observed') }}
    where triggered_at is not null
),

intervals as (
    select * from {{ ref('stg_attribution__membership_intervals') }}
),

contributions as (
    select * from {{ ref('int_member_contributions_snapshotted') }}
    where is_frozen
),

members_at_trigger as (
    select distinct
        triggers.group_id,
        intervals.user_id,
        triggers.red_packet_fen,
        triggers.triggered_at
    from triggers
    inner join intervals
        on
            triggers.group_id = intervals.group_id
            and triggers.trigger_observed_ds = intervals.as_of_ds
            and {{ is_member_at('intervals', 'triggers.triggered_at') }}
),

identified as (
    select
        members_at_trigger.group_id,
        members_at_trigger.user_id,
        members_at_trigger.red_packet_fen,
        members_at_trigger.triggered_at,
        coalesce(contributions.contribution_fen, 0) as contribution_fen
    from members_at_trigger
    left join contributions
        on
            members_at_trigger.group_id = contributions.group_id
            and members_at_trigger.user_id = contributions.user_id
)

select * from identified
