"""The attribution suite: the money identities of the day's standings (and of the frozen
snapshot on the freeze date), checked on Spark before dbt reads them.

Identities that span two tables (a pool equals its members' contributions, a member's
contribution equals the sum of the orders) are checked on a joined check frame, built in
Spark where the data is; GX then validates that frame's columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from expectations.gate import holds, with_unique_flag
from grouprebate.config import CampaignConfig

RULES = "docs/rules.md §4 attribution"


def _meta(clause: str) -> dict:
    return {"rule": f"{RULES}: {clause}"}


def _holds(column: str, clause: str) -> Any:
    return holds(column, _meta(clause))


def orders_suite() -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="attribution.attributed_orders", expectations=[
        _holds("attributed_once", "an order is attributed at most once"),
        _holds("sharer_is_not_buyer", "sharer and buyer are different users"),
        gxe.ExpectColumnValuesToBeBetween(column="contribution_fen", min_value=0,
                                          meta=_meta("a contribution is never negative")),
        _holds("contribution_within_paid", "a contribution is at most what was paid"),
    ])


def members_suite() -> Any:
    import great_expectations as gx

    return gx.ExpectationSuite(name="attribution.member_contributions", expectations=[
        _holds("contribution_equals_orders",
               "a member's contribution is the sum of their attributed orders"),
    ])


def pools_suite(config: CampaignConfig) -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="attribution.group_pools", expectations=[
        _holds("one_pool", "one pool per group"),
        _holds("pool_equals_members", "a pool is the sum of its members' contributions"),
        _holds("eligible_is_valid", "an eligible group is valid"),
        gxe.ExpectColumnValuesToBeBetween(
            column="members_if_eligible", min_value=config.group_min_members,
            max_value=config.group_max_members,
            meta=_meta("an eligible group has group_min_members..group_max_members "
                       "members at draw_open")),
    ])


def check_frames(orders: Any, members: Any, pools: Any) -> dict[str, Any]:
    """The three tables with each identity as a boolean column, in one plan each.

    Booleans, not column pairs: GX counts a column's failing values for every column of a
    table in one aggregate query, but a column pair costs three queries of its own, and
    GX's uniqueness one more (uniqueness is a flag here too). A side missing from a join
    makes its identity false (null-safe equality).
    """
    from pyspark.sql import functions as F

    order_sums = orders.groupBy("group_id", F.col("buyer_user_id").alias("user_id")).agg(
        F.sum("contribution_fen").alias("orders_fen"))
    member_check = members.join(order_sums, ["group_id", "user_id"], "full").select(
        "group_id", "user_id", "contribution_fen", "orders_fen",
        F.col("contribution_fen").eqNullSafe(F.col("orders_fen"))
        .alias("contribution_equals_orders"))
    member_sums = members.groupBy("group_id").agg(F.sum("contribution_fen").alias("members_fen"))
    pool_check = pools.join(member_sums, "group_id", "left").select(
        "group_id", "pool_fen", F.coalesce("members_fen", F.lit(0)).alias("members_fen"),
        F.col("pool_fen").eqNullSafe(F.coalesce("members_fen", F.lit(0)))
        .alias("pool_equals_members"),
        (~F.col("is_eligible") | F.col("is_valid")).alias("eligible_is_valid"),
        F.when(F.col("is_eligible"), F.col("member_count_at_draw_open"))
        .alias("members_if_eligible"))
    order_check = orders.select(
        "order_id", "group_id", "sharer_user_id", "buyer_user_id", "paid_fen",
        "contribution_fen",
        F.coalesce(F.col("sharer_user_id") != F.col("buyer_user_id"), F.lit(False))
        .alias("sharer_is_not_buyer"),
        F.coalesce(F.col("contribution_fen") <= F.col("paid_fen"), F.lit(False))
        .alias("contribution_within_paid"))
    return {"attributed_orders": with_unique_flag(order_check, ["order_id"], "attributed_once"),
            "member_contributions": member_check,
            "group_pools": with_unique_flag(pool_check, ["group_id"], "one_pool")}


# The columns that name a failing row in a gate's sample: the key, and the values its
# identities compare.
SAMPLE_COLUMNS = {
    "attributed_orders": ("order_id", "sharer_user_id", "buyer_user_id", "paid_fen",
                          "contribution_fen"),
    "member_contributions": ("group_id", "user_id", "contribution_fen", "orders_fen"),
    "group_pools": ("group_id", "pool_fen", "members_fen"),
}


def attribution_batches(spark: Any, lake: str, config: CampaignConfig, ds: dt.date) -> list:
    """The day's attribution tables as gate batches; none after the freeze date, whose
    runs write no standings (the frozen snapshot was checked on the freeze date)."""
    from expectations.gate import Batch
    from grouprebate.calendar import Phase, phase
    from spark_jobs.lake import partition_path

    if phase(config, ds) is Phase.FROZEN:
        return []
    tables = {name: spark.read.parquet(partition_path(f"{lake}/attribution", name, ds))
              for name in ("attributed_orders", "member_contributions", "group_pools")}
    frames = check_frames(tables["attributed_orders"], tables["member_contributions"],
                          tables["group_pools"])
    suites = {"attributed_orders": orders_suite(), "member_contributions": members_suite(),
              "group_pools": pools_suite(config)}
    return [Batch(f"lake.attribution.{name} ds={ds}", suite, frames[name], SAMPLE_COLUMNS[name],
                  counts=False) for name, suite in suites.items()]
