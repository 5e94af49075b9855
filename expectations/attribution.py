"""The attribution suite: the money identities of the day's standings (and of the frozen
snapshot on the freeze date), checked on Spark before dbt reads them.

Identities that span two tables (a pool equals its members' contributions, a member's
contribution equals the sum of the orders) are checked on a joined check frame, built in
Spark where the data is; GX then validates that frame's columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from grouprebate.config import CampaignConfig

RULES = "docs/rules.md §4 attribution"


def _meta(clause: str) -> dict:
    return {"rule": f"{RULES}: {clause}"}


def orders_suite() -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="attribution.attributed_orders", expectations=[
        gxe.ExpectColumnValuesToBeUnique(column="order_id",
                                         meta=_meta("an order is attributed at most once")),
        gxe.ExpectColumnValuesToBeInSet(column="sharer_is_buyer", value_set=[False],
                                        meta=_meta("sharer and buyer are different users")),
        gxe.ExpectColumnValuesToBeBetween(column="contribution_fen", min_value=0,
                                          meta=_meta("a contribution is never negative")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="paid_fen", column_B="contribution_fen", or_equal=True,
            meta=_meta("a contribution is at most what was paid")),
    ])


def members_suite() -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="attribution.member_contributions", expectations=[
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="contribution_fen", column_B="orders_fen",
            meta=_meta("a member's contribution is the sum of their attributed orders")),
    ])


def pools_suite(config: CampaignConfig) -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="attribution.group_pools", expectations=[
        gxe.ExpectColumnValuesToBeUnique(column="group_id", meta=_meta("one pool per group")),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="pool_fen", column_B="members_fen",
            meta=_meta("a pool is the sum of its members' contributions")),
        gxe.ExpectColumnValuesToBeInSet(column="eligible_but_invalid", value_set=[False],
                                        meta=_meta("an eligible group is valid")),
        gxe.ExpectColumnValuesToBeBetween(
            column="members_if_eligible", min_value=config.group_min_members,
            max_value=config.group_max_members,
            meta=_meta("an eligible group has group_min_members..group_max_members "
                       "members at draw_open")),
    ])


def check_frames(orders: Any, members: Any, pools: Any) -> dict[str, Any]:
    """The three tables with the columns their identities compare, in one plan each.

    A side missing from a join reads as -1 fen, which no real sum equals, so a member
    without orders or orders without a member row fail the equality."""
    from pyspark.sql import functions as F

    order_sums = orders.groupBy("group_id", F.col("buyer_user_id").alias("user_id")).agg(
        F.sum("contribution_fen").alias("orders_fen"))
    member_check = members.join(order_sums, ["group_id", "user_id"], "full").select(
        "group_id", "user_id", F.coalesce("contribution_fen", F.lit(-1)).alias("contribution_fen"),
        F.coalesce("orders_fen", F.lit(-1)).alias("orders_fen"))
    member_sums = members.groupBy("group_id").agg(F.sum("contribution_fen").alias("members_fen"))
    pool_check = pools.join(member_sums, "group_id", "left").select(
        "group_id", "pool_fen", F.coalesce("members_fen", F.lit(0)).alias("members_fen"),
        (F.col("is_eligible") & ~F.col("is_valid")).alias("eligible_but_invalid"),
        F.when(F.col("is_eligible"), F.col("member_count_at_draw_open"))
        .alias("members_if_eligible"))
    order_check = orders.select(
        "order_id", "group_id", "paid_fen", "contribution_fen",
        (F.col("sharer_user_id") == F.col("buyer_user_id")).alias("sharer_is_buyer"))
    return {"attributed_orders": order_check, "member_contributions": member_check,
            "group_pools": pool_check}


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
    suites = {"attributed_orders": (orders_suite(), ("order_id",)),
              "member_contributions": (members_suite(), ("group_id", "user_id")),
              "group_pools": (pools_suite(config), ("group_id",))}
    return [Batch(f"lake.attribution.{name} ds={ds}", suite, frames[name], keys)
            for name, (suite, keys) in suites.items()]
