"""The attribution of docs/rules.md §4 written a second time, in plain DuckDB SQL.

The benchmark times it beside the Spark job (spark_jobs/attribute_orders.py) and
`differences` holds the two equal row for row: two independent readings of the rules
that agree are the check that neither drifted. Both read the same Parquet partitions
(DuckDB's own reader, no Python loop over rows) and write the same three tables with
the same columns and types; the rule parameters come from RuleParams, as the job's do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb

from grouprebate.config import CampaignConfig
from grouprebate.contract import INT, SOURCES, TIMESTAMP
from spark_jobs.attribute_orders import FROZEN_TABLES
from spark_jobs.lake import partition_path
from spark_jobs.transforms.params import RuleParams
from spark_jobs.transforms.versions import WIDTH

INPUTS = ("users", "groups", "memberships", "shares", "orders", "payments", "refunds")
# DuckDB types of the contract's field kinds (ids, text, enums and versions are varchar);
# the job's timestamps are UTC-adjusted micros, which DuckDB reads as timestamptz.
KIND_TYPES = {INT: "bigint", TIMESTAMP: "timestamptz"}

# A client version as WIDTH ints padded with zeros: list order is then version order
# (8.10.0 > 8.9.0), as spark_jobs/transforms/versions.py compares them.
VERSION_MACRO = f"""
create or replace temp macro version_key(version) as
    list_resize(cast(string_split(version, '.') as integer[]), {WIDTH}, 0)
"""

MEMBERSHIP_INTERVALS = """
-- §4 Membership: u is a member of g at t iff the latest event of (g, u) at or before t,
-- ordered by event_time then event_id, is a join. Each join is an interval lasting until
-- the pair's next event (left_at null: still a member); a join followed at the same
-- instant by a later event lasts no time and is dropped.
create or replace temp table membership_intervals as
with

ordered_events as (
    select
        group_id,
        user_id,
        action,
        event_time,
        lead(event_time) over (
            partition by group_id, user_id order by event_time, event_id
        ) as next_event_time,
    from lake_memberships
)

select
    group_id,
    user_id,
    event_time as joined_at,
    next_event_time as left_at,
from ordered_events
where action = 'join' and (next_event_time is null or next_event_time > event_time)
"""

ATTRIBUTED_ORDERS = """
create or replace table attributed_orders as
with

-- §4 First payment: smallest paid_at, ties by payment_id. The tie-break picks which
-- payment, never when: the first payment's time is the order's smallest paid_at.
first_payments as (
    select order_id, min(paid_at) as first_paid_at,
    from lake_payments
    group by order_id
),

-- Attribution clauses 1 and 2: first payment inside the accumulation window (start
-- included, end excluded), from a client at or above min_client_version.
qualifying_orders as (
    select o.order_id, o.buyer_user_id, o.item_id, f.first_paid_at,
    from lake_orders as o
    inner join first_payments as f on o.order_id = f.order_id
    where
        f.first_paid_at >= getvariable('accumulation_start')
        and f.first_paid_at < getvariable('accumulation_end')
        and version_key(o.client_version) >= version_key(getvariable('min_client_version'))
),

-- Clause 3: the groups the buyer is a member of at the first payment.
buyer_groups as (
    select o.*, m.group_id,
    from qualifying_orders as o
    inner join membership_intervals as m
        on
            o.buyer_user_id = m.user_id
            and m.joined_at <= o.first_paid_at
            and (m.left_at is null or m.left_at > o.first_paid_at)
),

-- Clause 4, the share alone: from a recent client, by a member of the group at shared_at.
qualifying_shares as (
    select s.share_id, s.group_id, s.sharer_user_id, s.item_id, s.shared_at,
    from lake_shares as s
    semi join membership_intervals as m
        on
            s.group_id = m.group_id
            and s.sharer_user_id = m.user_id
            and m.joined_at <= s.shared_at
            and (m.left_at is null or m.left_at > s.shared_at)
    where version_key(s.client_version) >= version_key(getvariable('min_client_version'))
),

-- Clause 4, share and order: the item shared into the group at or before the first
-- payment, by someone other than the buyer.
candidates as (
    select
        b.order_id,
        b.group_id,
        s.share_id,
        b.buyer_user_id,
        s.sharer_user_id,
        b.item_id,
        s.shared_at,
        b.first_paid_at,
    from buyer_groups as b
    inner join qualifying_shares as s
        on
            b.group_id = s.group_id
            and b.item_id = s.item_id
            and s.shared_at <= b.first_paid_at
            and s.sharer_user_id != b.buyer_user_id
),

-- Last touch: the latest shared_at wins, ties by the smallest share_id; one group per order.
last_touch as (
    select *
    from candidates
    qualify row_number() over (partition by order_id order by shared_at desc, share_id) = 1
),

-- Contribution: every payment and refund up to draw_open (stages included) is netted.
paid as (
    select order_id, sum(amount_fen) as paid_fen,
    from lake_payments
    where paid_at <= getvariable('draw_open')
    group by order_id
),

refunded as (
    select order_id, sum(amount_fen) as refunded_fen,
    from lake_refunds
    where refunded_at <= getvariable('draw_open')
    group by order_id
),

netted as (
    select
        a.*,
        cast(coalesce(p.paid_fen, 0) as bigint) as paid_fen,
        cast(coalesce(r.refunded_fen, 0) as bigint) as refunded_fen,
    from last_touch as a
    left join paid as p on a.order_id = p.order_id
    left join refunded as r on a.order_id = r.order_id
)

-- Contribution: what is left after refunds, never below zero (the job's column order).
select
    order_id,
    group_id,
    share_id,
    buyer_user_id,
    sharer_user_id,
    item_id,
    shared_at,
    first_paid_at,
    paid_fen,
    refunded_fen,
    greatest(paid_fen - refunded_fen, 0) as contribution_fen,
from netted
"""

MEMBER_CONTRIBUTIONS = """
-- §4 Contribution: a member's contribution in a group is the sum over the orders
-- attributed to that group that the member bought.
create or replace table member_contributions as
select
    group_id,
    buyer_user_id as user_id,
    cast(sum(contribution_fen) as bigint) as contribution_fen,
    count(*) as attributed_orders,
from attributed_orders
group by group_id, buyer_user_id
"""

GROUP_POOLS = """
create or replace table group_pools as
with

-- Every group id seen anywhere, so a group whose record never arrived is listed, invalid.
known_groups as (
    select group_id from lake_groups
    union
    select group_id from lake_memberships
    union
    select group_id from lake_shares
),

-- §4 Valid group: the creator's profile in force at created_at (latest valid_from
-- at or before it), or nulls when there is none.
creator_profiles as (
    select
        g.group_id,
        g.creator_user_id,
        g.created_at,
        u.gender as creator_gender,
        u.naughty_value as creator_naughty_value,
    from lake_groups as g
    left join lake_users as u
        on g.creator_user_id = u.user_id and u.valid_from <= g.created_at
    qualify row_number() over (partition by g.group_id order by u.valid_from desc) = 1
),

-- Valid group: members at once, up to draw_open. Each event changes the group's count by
-- the pair's new state minus its previous one; the count is read after all the events of
-- one instant, since no instant sees a state half-way through them.
membership_states as (
    select
        group_id,
        user_id,
        event_id,
        event_time,
        case when action = 'join' then 1 else 0 end as is_member,
    from lake_memberships
    where event_time <= getvariable('draw_open')
),

membership_changes as (
    select
        group_id,
        event_time,
        is_member - coalesce(lag(is_member) over (
            partition by group_id, user_id order by event_time, event_id
        ), 0) as change,
    from membership_states
),

changes_per_instant as (
    select group_id, event_time, sum(change) as change,
    from membership_changes
    group by group_id, event_time
),

member_counts as (
    select
        group_id,
        sum(change) over (
            partition by group_id order by event_time
            rows between unbounded preceding and current row
        ) as members,
    from changes_per_instant
),

peak_members as (
    select group_id, max(members) as peak_members,
    from member_counts
    group by group_id
),

-- §4 Eligibility: the members at the instant draw_open.
members_at_draw_open as (
    select group_id, count(distinct user_id) as member_count_at_draw_open,
    from membership_intervals
    where
        joined_at <= getvariable('draw_open')
        and (left_at is null or left_at > getvariable('draw_open'))
    group by group_id
),

-- Pool: the sum of the members' contributions.
pools as (
    select
        group_id,
        cast(sum(contribution_fen) as bigint) as pool_fen,
        cast(sum(attributed_orders) as bigint) as attributed_orders,
    from member_contributions
    group by group_id
),

standing as (
    select
        k.group_id,
        c.creator_user_id,
        c.created_at,
        c.creator_gender,
        c.creator_naughty_value,
        coalesce(p.peak_members, 0) as peak_members,
        coalesce(d.member_count_at_draw_open, 0) as member_count_at_draw_open,
        coalesce(o.pool_fen, 0) as pool_fen,
        coalesce(o.attributed_orders, 0) as attributed_orders,
    from known_groups as k
    left join creator_profiles as c on k.group_id = c.group_id
    left join peak_members as p on k.group_id = p.group_id
    left join members_at_draw_open as d on k.group_id = d.group_id
    left join pools as o on k.group_id = o.group_id
),

-- Valid group: every reason a group cannot enter the draw, joined by '; ' (null: valid).
validity as (
    select
        *,
        nullif(concat_ws(
            '; ',
            case when created_at is null then 'group record not received' end,
            case
                when created_at is not null and creator_gender is null
                    then 'creator profile unknown at creation'
            end,
            case
                when creator_gender != getvariable('creator_gender')
                    then format('creator gender {}, must be {}',
                                creator_gender, getvariable('creator_gender'))
            end,
            case
                when creator_naughty_value < getvariable('creator_min_naughty_value')
                    then format('creator naughty value {} below {}',
                                creator_naughty_value, getvariable('creator_min_naughty_value'))
            end,
            case
                when peak_members > getvariable('group_max_members')
                    then format('{} members at once before draw_open, more than {}',
                                peak_members, getvariable('group_max_members'))
            end
        ), '') as invalid_reason,
    from standing
)

-- §4 Draw: eligible groups are valid, have at least group_min_members members at
-- draw_open and a pool above zero.
select
    group_id,
    creator_user_id,
    created_at,
    creator_gender,
    creator_naughty_value,
    cast(peak_members as integer) as peak_members_before_draw,
    cast(member_count_at_draw_open as integer) as member_count_at_draw_open,
    pool_fen,
    attributed_orders,
    invalid_reason is null as is_valid,
    invalid_reason,
    invalid_reason is null
    and member_count_at_draw_open >= getvariable('group_min_members')
    and pool_fen > 0 as is_eligible,
from validity
"""


def partitions_through(lake: Path, table: str, ds: dt.date) -> list[str]:
    """The Parquet files of a lake table's partitions ds' <= ds, as read_partitions reads."""
    return [
        str(file)
        for folder in sorted(Path(lake, table).glob("ds=*"))
        if dt.date.fromisoformat(folder.name.removeprefix("ds=")) <= ds
        for file in sorted(folder.glob("*.parquet"))
    ]


def create_source_view(con: duckdb.DuckDBPyConnection, lake: Path, source: str,
                       ds: dt.date) -> None:
    """Temp view lake_<source>: the contract's typed columns; empty before any partition."""
    types = {f.name: KIND_TYPES.get(f.kind, "varchar") for f in SOURCES[source].fields}
    files = partitions_through(lake, source, ds)
    if files:
        rows = con.read_parquet(files, hive_partitioning=False, union_by_name=True).project(
            ", ".join(f"cast({name} as {kind}) as {name}" for name, kind in types.items()))
    else:
        rows = con.sql("select " + ", ".join(f"cast(null as {kind}) as {name}"
                                             for name, kind in types.items()) + " where false")
    rows.create_view(f"lake_{source}", replace=True)


def attribute_duckdb(con: duckdb.DuckDBPyConnection, lake: Path, config: CampaignConfig,
                     ds: dt.date) -> None:
    """Create tables attributed_orders, member_contributions, group_pools in con (replacing
    them) from the lake's partitions with ds' <= ds."""
    params = dataclasses.asdict(RuleParams.from_config(config))
    try:
        for source in INPUTS:
            create_source_view(con, Path(lake), source, ds)
        for name, value in params.items():
            con.execute(f"set variable {name} = ?", [value])
        con.execute(VERSION_MACRO)
        for statement in (MEMBERSHIP_INTERVALS, ATTRIBUTED_ORDERS, MEMBER_CONTRIBUTIONS,
                          GROUP_POOLS):
            con.execute(statement)
    finally:  # con keeps the three tables only
        for name in params:
            con.execute(f"reset variable {name}")
        con.execute("drop macro if exists version_key")
        con.execute("drop table if exists membership_intervals")
        for source in INPUTS:
            con.execute(f"drop view if exists lake_{source}")


def describe_row(columns: list[str], row: tuple) -> str:
    """A row as `(name=value, ...)`, text quoted so that an id '' or 'None' reads as text."""
    return "(" + ", ".join(f"{c}={v!r}" if isinstance(v, str) else f"{c}={v}"
                           for c, v in zip(columns, row, strict=True)) + ")"


def schema_difference(spark: list[tuple[str, str]], peer: list[tuple[str, str]]) -> str:
    """Which (column, type) pairs only one side has, or that only the order differs."""
    only_spark = [f"{name} {kind}" for name, kind in spark if (name, kind) not in peer]
    only_peer = [f"{name} {kind}" for name, kind in peer if (name, kind) not in spark]
    if not only_spark and not only_peer:
        return (f"in another order: Spark {[name for name, _ in spark]}, "
                f"DuckDB {[name for name, _ in peer]}")
    return (f"only in Spark's: {', '.join(only_spark) or 'none'}; "
            f"only in DuckDB's: {', '.join(only_peer) or 'none'}")


def differences(con: duckdb.DuckDBPyConnection, lake: Path, ds: dt.date,
                limit: int = 5) -> list[str]:
    """Compare con's three tables with the Spark job's partitions LAKE/attribution/<table>/ds=<ds>
    row for row (both directions, duplicates counted); [] when equal, else one line per table
    and direction naming the table, the count and up to `limit` sample rows."""
    lines = []
    for table in FROZEN_TABLES:
        folder = partition_path(Path(lake, "attribution"), table, ds)
        files = [str(f) for f in sorted(Path(folder).glob("*.parquet"))]
        if not files:
            lines.append(f"{table}: the Spark job wrote no partition {folder}")
            continue
        spark = con.read_parquet(files, hive_partitioning=False)
        peer = con.table(table)
        spark_schema = list(zip(spark.columns, map(str, spark.types), strict=True))
        peer_schema = list(zip(peer.columns, map(str, peer.types), strict=True))
        if spark_schema != peer_schema:
            lines.append(f"{table}: columns differ, {schema_difference(spark_schema, peer_schema)}")
            continue
        for only_in, first, second in (("Spark's partition", "spark", "peer"),
                                       ("the DuckDB peer", "peer", "spark")):
            found = con.execute(
                f"""
                with spark as (select * from read_parquet($files, hive_partitioning = false)),
                peer as (select * from {table}),
                missing as (select * from {first} except all select * from {second})
                select count(*) over (), * from missing order by all limit $limit
                """,
                {"files": files, "limit": limit},
            ).fetchall()
            if found:
                samples = "; ".join(describe_row(peer.columns, row[1:]) for row in found)
                lines.append(f"{table}: {found[0][0]} row(s) only in {only_in}, e.g. {samples}")
    return lines
