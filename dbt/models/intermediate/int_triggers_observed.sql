{#
    The trigger of each winning group (docs/rules.md §4), first-observed so that a published
    trigger, and with it the split, never changes when a draws event arrives late.

    A draws event qualifies as of day d when it arrived on or before d, drawn_at is in
    [draw_open, draw_open + claim window), and its user was a member of the group at
    drawn_at according to the membership intervals known on d. The trigger is observed
    on t_ds, the first day with a qualifying event; the trigger is the qualifying event
    of that day with the smallest drawn_at (ties: event_id). Days after t_ds change nothing.
#}

with

winners as (
    select * from {{ ref('int_winners_drawn') }}
    where is_winner
),

draws as (
    select * from {{ ref('stg_lake__draws') }}
),

intervals as (
    select * from {{ ref('stg_attribution__membership_intervals') }}
),

draws_in_window as (
    select
        draws.draw_event_id,
        draws.group_id,
        draws.user_id,
        draws.drawn_at,
        draws.arrival_ds
    from draws
    inner join winners
        on draws.group_id = winners.group_id
    where
        draws.drawn_at >= {{ draw_open() }}
        and draws.drawn_at < {{ draw_open() }} + {{ claim_window() }}
),

qualifying_observations as (
    select
        draws_in_window.draw_event_id,
        draws_in_window.group_id,
        draws_in_window.user_id,
        draws_in_window.drawn_at,
        intervals.as_of_ds as observed_ds
    from draws_in_window
    inner join intervals
        on
            draws_in_window.group_id = intervals.group_id
            and draws_in_window.user_id = intervals.user_id
            and draws_in_window.arrival_ds <= intervals.as_of_ds
            and {{ is_member_at('intervals', 'draws_in_window.drawn_at') }}
),

first_observed as (
    select
        group_id,
        min(observed_ds) as trigger_observed_ds
    from qualifying_observations
    group by group_id
),

ranked_on_first_day as (
    select
        qualifying_observations.group_id,
        qualifying_observations.draw_event_id,
        qualifying_observations.user_id,
        qualifying_observations.drawn_at,
        qualifying_observations.observed_ds,
        row_number() over (
            partition by qualifying_observations.group_id
            order by
                qualifying_observations.drawn_at,
                {{ bytewise('qualifying_observations.draw_event_id') }}
        ) as trigger_order
    from qualifying_observations
    inner join first_observed
        on
            qualifying_observations.group_id = first_observed.group_id
            and qualifying_observations.observed_ds = first_observed.trigger_observed_ds
),

triggers as (
    select * from ranked_on_first_day
    where trigger_order = 1
),

observed as (
    select
        winners.group_id,
        winners.red_packet_fen,
        triggers.drawn_at as triggered_at,
        triggers.draw_event_id as trigger_event_id,
        triggers.user_id as trigger_user_id,
        triggers.observed_ds as trigger_observed_ds,
        {{ draw_open() }} + {{ claim_window() }} as trigger_deadline,
        triggers.drawn_at + {{ claim_window() }} as claim_window_closes_at,
        case
            when triggers.drawn_at is not null then 'triggered'
            when {{ draw_open() }} + {{ claim_window() }} <= {{ run_ds_end() }}
                then 'not triggered within the claim window'
            else 'awaiting trigger'
        end as trigger_status
    from winners
    left join triggers
        on winners.group_id = triggers.group_id
)

select * from observed
