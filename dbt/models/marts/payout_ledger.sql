{#
    Finance's book of the red packets, in integer fen, as of the run date: one entry per
    money event, dated by the run date (entry_ds) on which the pipeline first knew it.
    An entry never changes and never disappears on a later run (append-only): a
    forfeiture undone by a claim or draws event made in time but arriving late is not
    deleted, a forfeiture_reversed entry follows it.

    The batch rule is written here, once: each export date's payouts, ordered by
    payout_id, fill batch files of at most payout.max_rows_per_file rows in turn. The
    exporter writes the files this ledger names (grouprebate/publish/payouts.py).
#}

with

triggers as (
    select * from {{ ref('int_triggers_observed') }}
),

parts as (
    select * from {{ ref('int_splits_allocated') }}
    where split_fen > 0
),

payouts as (
    select * from {{ ref('payouts') }}
),

funded as (
    select
        'red_packet_funded' as entry_type,
        {{ freeze_ds() }} as entry_ds,
        {{ draw_open() }} as occurred_at,
        group_id,
        cast(null as varchar) as user_id,
        red_packet_fen as amount_fen,
        cast(null as varchar) as payout_id
    from triggers
),

allocated as (
    select
        'split_allocated' as entry_type,
        triggers.trigger_observed_ds as entry_ds,
        triggers.triggered_at as occurred_at,
        parts.group_id,
        parts.user_id,
        parts.split_fen as amount_fen,
        cast(null as varchar) as payout_id
    from parts
    inner join triggers
        on parts.group_id = triggers.group_id
),

exported as (
    select
        'payout_exported' as entry_type,
        export_ds as entry_ds,
        claimed_at as occurred_at,
        group_id,
        user_id,
        amount_fen,
        payout_id
    from payouts
),

-- A part is forfeited on the first run date whose end is after its claim window closed,
-- unless a payout for it was exported by then; a payout exported later reverses it.
part_deadlines as (
    select
        parts.group_id,
        parts.user_id,
        parts.split_fen as amount_fen,
        triggers.claim_window_closes_at,
        greatest(
            {{ local_date('triggers.claim_window_closes_at') }},
            triggers.trigger_observed_ds
        ) as forfeited_ds,
        payouts.export_ds as paid_ds,
        payouts.claimed_at
    from parts
    inner join triggers
        on parts.group_id = triggers.group_id
    left join payouts
        on
            parts.group_id = payouts.group_id
            and parts.user_id = payouts.user_id
),

-- A packet is forfeited on the first run date that ends at or after its trigger deadline
-- with no trigger observed; a trigger observed later reverses it.
packet_deadlines as (
    select
        group_id,
        red_packet_fen as amount_fen,
        trigger_deadline,
        {{ local_date("trigger_deadline - interval '1 microsecond'") }} as forfeited_ds,
        trigger_observed_ds,
        triggered_at
    from triggers
),

forfeited as (
    select
        'part_forfeited' as entry_type,
        forfeited_ds as entry_ds,
        claim_window_closes_at as occurred_at,
        group_id,
        user_id,
        amount_fen,
        cast(null as varchar) as payout_id
    from part_deadlines
    where
        forfeited_ds <= {{ run_ds() }}
        and (paid_ds is null or paid_ds > forfeited_ds)
    union all
    select
        'packet_forfeited' as entry_type,
        forfeited_ds as entry_ds,
        trigger_deadline as occurred_at,
        group_id,
        cast(null as varchar) as user_id,
        amount_fen,
        cast(null as varchar) as payout_id
    from packet_deadlines
    where
        forfeited_ds <= {{ run_ds() }}
        and (trigger_observed_ds is null or trigger_observed_ds > forfeited_ds)
),

reversed as (
    select
        'forfeiture_reversed' as entry_type,
        paid_ds as entry_ds,
        claimed_at as occurred_at,
        group_id,
        user_id,
        amount_fen,
        cast(null as varchar) as payout_id
    from part_deadlines
    where paid_ds > forfeited_ds
    union all
    select
        'forfeiture_reversed' as entry_type,
        trigger_observed_ds as entry_ds,
        triggered_at as occurred_at,
        group_id,
        cast(null as varchar) as user_id,
        amount_fen,
        cast(null as varchar) as payout_id
    from packet_deadlines
    where trigger_observed_ds > forfeited_ds
),

entries as (
    select * from funded
    union all
    select * from allocated
    union all
    select * from exported
    union all
    select * from forfeited
    union all
    select * from reversed
),

batched as (
    select
        payout_id,
        {{ int_div(
            "row_number() over (partition by export_ds order by payout_id) - 1",
            payout_max_rows_per_file()
        ) }} + 1 as batch_number
    from payouts
),

final as (
    select
        {{ campaign_id() }} as campaign_id,
        entries.entry_ds,
        entries.entry_type,
        entries.group_id,
        entries.user_id,
        cast(entries.amount_fen as bigint) as amount_fen,
        entries.occurred_at,
        entries.payout_id,
        cast(batched.batch_number as integer) as batch_number,
        case
            when batched.payout_id is not null
                then {{ payout_batch_id('entries.entry_ds', 'batched.batch_number') }}
        end as batch_id,
        case
            when batched.payout_id is not null
                then {{ payout_file_name('entries.entry_ds', 'batched.batch_number') }}
        end as file_name
    from entries
    left join batched
        on entries.payout_id = batched.payout_id
)

select * from final
