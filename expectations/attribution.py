"""The attribution suite: the money identities of the day's standings (and of the frozen
snapshot on the freeze date), checked on Spark before dbt reads them.

Identities that span two tables (a pool equals its members' contributions, a member's
contribution equals the sum of the orders) are checked on a joined check frame, built in
Spark where the data is. The three check frames are validated together, as one combined
frame (expectations.gate.combined): one GX run per date, not one per table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from expectations.gate import Batch, column_of, combined, holds, one_task_if_small
from grouprebate.config import CampaignConfig

SUITE = "attribution"
RULES = "docs/rules.md §4 attribution"
ORDERS, MEMBERS, POOLS = "attributed_orders", "member_contributions", "group_pools"
# The tables whose key is unique, with the check frame's flag of it (gate.combined).
UNIQUE = {ORDERS: (("order_id",), "attributed_once"), POOLS: (("group_id",), "one_pool")}


def attribution_suite(config: CampaignConfig) -> Any:
    """The identities of the three tables, each on its columns of the combined frame."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    def meta(table: str, clause: str) -> dict:
        return {"rule": f"{RULES}: {clause}", "table": f"lake.attribution.{table}"}

    def true(table: str, column: str, clause: str) -> Any:
        return holds(column_of(table, column), meta(table, clause))

    return gx.ExpectationSuite(name=SUITE, expectations=[
        true(ORDERS, "attributed_once", "an order is attributed at most once"),
        true(ORDERS, "sharer_is_not_buyer", "sharer and buyer are different users"),
        gxe.ExpectColumnValuesToBeBetween(
            column=column_of(ORDERS, "contribution_fen"), min_value=0,
            meta=meta(ORDERS, "a contribution is never negative")),
        true(ORDERS, "contribution_within_paid", "a contribution is at most what was paid"),
        true(MEMBERS, "contribution_equals_orders",
             "a member's contribution is the sum of their attributed orders"),
        true(POOLS, "one_pool", "one pool per group"),
        true(POOLS, "pool_equals_members", "a pool is the sum of its members' contributions"),
        true(POOLS, "eligible_is_valid", "an eligible group is valid"),
        gxe.ExpectColumnValuesToBeBetween(
            column=column_of(POOLS, "members_if_eligible"), min_value=config.group_min_members,
            max_value=config.group_max_members,
            meta=meta(POOLS, "an eligible group has group_min_members..group_max_members "
                             "members at draw_open")),
    ])


def check_frames(orders: Any, members: Any, pools: Any) -> dict[str, tuple[Any, list[str]]]:
    """The three tables with each identity as a boolean column, in one plan each, with
    their columns' names (expectations.gate.combined renames them without asking Spark).

    Booleans, not column pairs: GX counts a column's failing values for every column of a
    table in one aggregate query, but a column pair costs three queries of its own, and
    GX's uniqueness one more (uniqueness is a flag here too). A side missing from a join
    makes its identity false (null-safe equality). The members' frame is computed once
    (spark_jobs.lake.materialized) before GX's row count and aggregate read it: the full
    join cannot be pruned for a count, so each query would otherwise join it again
    (benchmarks/results/quality_gates_scale.json).
    """
    from pyspark.sql import functions as F

    from spark_jobs.lake import materialized

    def checked(table: str, frame: Any, columns: dict[str, Any]) -> tuple[Any, list[str]]:
        frame = frame.select([column.alias(name) for name, column in columns.items()])
        flag = [UNIQUE[table][1]] if table in UNIQUE else []
        return frame, [*columns, *flag]

    order_sums = orders.groupBy("group_id", F.col("buyer_user_id").alias("user_id")).agg(
        F.sum("contribution_fen").alias("orders_fen"))
    member_sums = members.groupBy("group_id").agg(F.sum("contribution_fen").alias("members_fen"))
    members_fen = F.coalesce("members_fen", F.lit(0))
    return {
        ORDERS: checked(ORDERS, orders, {
            **{name: F.col(name) for name in ("order_id", "group_id", "sharer_user_id",
                                              "buyer_user_id", "paid_fen", "contribution_fen")},
            "sharer_is_not_buyer": F.coalesce(F.col("sharer_user_id") != F.col("buyer_user_id"),
                                              F.lit(False)),
            "contribution_within_paid": F.coalesce(F.col("contribution_fen") <= F.col("paid_fen"),
                                                   F.lit(False)),
        }),
        MEMBERS: checked(MEMBERS, materialized(
            members.join(order_sums, ["group_id", "user_id"], "full")), {
            **{name: F.col(name) for name in ("group_id", "user_id", "contribution_fen",
                                              "orders_fen")},
            "contribution_equals_orders": F.col("contribution_fen").eqNullSafe(
                F.col("orders_fen")),
        }),
        POOLS: checked(POOLS, pools.join(member_sums, "group_id", "left"), {
            "group_id": F.col("group_id"), "pool_fen": F.col("pool_fen"),
            "members_fen": members_fen,
            "pool_equals_members": F.col("pool_fen").eqNullSafe(members_fen),
            "eligible_is_valid": ~F.col("is_eligible") | F.col("is_valid"),
            "members_if_eligible": F.when(F.col("is_eligible"),
                                          F.col("member_count_at_draw_open")),
        }),
    }


# The columns that name a failing row in a gate's sample: the key, and the values its
# identities compare.
SAMPLE_COLUMNS = {
    ORDERS: ("order_id", "sharer_user_id", "buyer_user_id", "paid_fen", "contribution_fen"),
    MEMBERS: ("group_id", "user_id", "contribution_fen", "orders_fen"),
    POOLS: ("group_id", "pool_fen", "members_fen"),
}


def attribution_batch(config: CampaignConfig, ds: dt.date, orders: Any, members: Any,
                      pools: Any) -> Batch:
    """The three tables' check frames, combined, as the gate's batch."""
    keys = tuple(column_of(table, column) for table, columns in SAMPLE_COLUMNS.items()
                 for column in columns)
    return Batch(f"lake.attribution ds={ds}", attribution_suite(config),
                 combined(check_frames(orders, members, pools), UNIQUE), keys, counts=False)


def attribution_batches(spark: Any, lake: str, config: CampaignConfig, ds: dt.date) -> list:
    """The day's attribution tables as the gate's batch; none after the freeze date, whose
    runs write no standings (the frozen snapshot was checked on the freeze date)."""
    from grouprebate.calendar import Phase, phase
    from spark_jobs.lake import partition_path, read_as_written

    if phase(config, ds) is Phase.FROZEN:
        return []
    paths = [partition_path(f"{lake}/attribution", name, ds) for name in (ORDERS, MEMBERS, POOLS)]
    batch = attribution_batch(config, ds, *[read_as_written(spark, path) for path in paths])
    return [replace(batch, frame=one_task_if_small(batch.frame, paths))]
