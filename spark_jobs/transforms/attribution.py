"""Attribution of orders to groups through shares, and contributions (docs/rules.md §4)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.transforms.membership import member_at
from spark_jobs.transforms.params import RuleParams
from spark_jobs.transforms.versions import version_at_least


def order_payments(payments: DataFrame, p: RuleParams) -> DataFrame:
    """(order_id, first_paid_at, paid_fen) in one hash aggregation of the payments: the
    order's smallest paid_at, and what was paid up to draw_open (null when nothing).

    The payment_id tie-break of the first payment picks which payment, never when, and
    attribution needs only when; a window would sort every payment.
    """
    paid_by_draw = F.when(F.col("paid_at") <= F.lit(p.draw_open), F.col("amount_fen"))
    return payments.groupBy("order_id").agg(F.min("paid_at").alias("first_paid_at"),
                                            F.sum(paid_by_draw).alias("paid_fen"))


def qualifying_orders(orders: DataFrame, payments: DataFrame, p: RuleParams) -> DataFrame:
    """Orders whose first payment is in the accumulation window, from a recent client."""
    paid = orders.join(order_payments(payments, p), on="order_id", how="inner")
    return paid.where(
        (F.col("first_paid_at") >= F.lit(p.accumulation_start))
        & (F.col("first_paid_at") < F.lit(p.accumulation_end))
        & version_at_least(F.col("client_version"), p.min_client_version)
    ).select("order_id", "buyer_user_id", "item_id", "first_paid_at", "paid_fen")


def qualifying_shares(shares: DataFrame, intervals: DataFrame, p: RuleParams) -> DataFrame:
    """Shares from a recent client whose sharer was a member of the group when sharing."""
    recent = shares.where(version_at_least(F.col("client_version"), p.min_client_version))
    s, m = recent.alias("s"), intervals.alias("m")
    sharer_was_member = (
        (F.col("s.group_id") == F.col("m.group_id"))
        & (F.col("s.sharer_user_id") == F.col("m.user_id"))
        & member_at("m", F.col("s.shared_at"))
    )
    return (
        s.join(m, on=sharer_was_member, how="left_semi")
        .select("share_id", "group_id", "sharer_user_id", "item_id", "shared_at")
    )


def numbered_touches(shares: DataFrame) -> DataFrame:
    """The qualifying shares with `touch`, their number within their item in last-touch
    order (shared_at, then the larger share_id first): of an order's candidate shares,
    all of its item, the last touch is the one with the largest number."""
    later = Window.partitionBy("item_id").orderBy(F.col("shared_at").asc(),
                                                  F.col("share_id").desc())
    return shares.withColumn("touch", F.row_number().over(later))


def attribute_orders(
    orders: DataFrame, payments: DataFrame, shares: DataFrame, intervals: DataFrame,
    p: RuleParams,
) -> DataFrame:
    """One row per attributed order with its group and share (last touch, then share_id).

    The join goes buyer and item -> the buyer's groups at payment time where that item
    was shared -> the item's shares in those groups. Memberships are first paired with
    the items shared into their group (one row per membership and item), so the order
    meets them on buyer and item together: a buyer in hundreds of groups meets only the
    groups where the item was shared, and a popular item only its own buyers' groups.

    Each order keeps its candidate with the largest touch number (numbered_touches): a
    hash aggregation, with no sort and, where the orders meet the memberships in a
    shuffle by buyer and item (columns of the order), no shuffle of its own. A window in
    last-touch order would sort every candidate, and a buyer in many groups sharing a
    hot item has many candidates per order.
    """
    o = qualifying_orders(orders, payments, p).alias("o")
    qualifying = qualifying_shares(shares, intervals, p)
    s = numbered_touches(qualifying).alias("s")
    shared_items = qualifying.select("group_id", "item_id").distinct()
    m = intervals.join(shared_items, on="group_id", how="inner").alias("m")
    buyer_is_member = (
        (F.col("o.buyer_user_id") == F.col("m.user_id"))
        & (F.col("o.item_id") == F.col("m.item_id"))
        & member_at("m", F.col("o.first_paid_at"))
    )
    in_groups = o.join(m, on=buyer_is_member, how="inner").select("o.*", "m.group_id")
    c = in_groups.alias("c")
    touches = (
        (F.col("c.group_id") == F.col("s.group_id"))
        & (F.col("c.item_id") == F.col("s.item_id"))
        & (F.col("s.shared_at") <= F.col("c.first_paid_at"))
        & (F.col("s.sharer_user_id") != F.col("c.buyer_user_id"))
    )
    order_columns = ["order_id", "buyer_user_id", "item_id", "first_paid_at", "paid_fen"]
    last_touch = (
        c.join(s, on=touches, how="inner")
        .groupBy(*[F.col(f"c.{name}") for name in order_columns])
        .agg(F.max("s.touch").alias("touch"))
    )
    share = s.select("item_id", "touch", "group_id", "share_id", "sharer_user_id", "shared_at")
    return last_touch.join(share, on=["item_id", "touch"], how="inner").select(
        "order_id", "group_id", "share_id", "buyer_user_id", "sharer_user_id",
        "item_id", "shared_at", "first_paid_at", "paid_fen",
    )


def contributions(attributed: DataFrame, refunds: DataFrame, p: RuleParams) -> DataFrame:
    """Attributed orders with paid, refunded and contribution fen, counted up to draw_open
    (paid_fen comes with the order from order_payments)."""
    refunded = (
        refunds.where(F.col("refunded_at") <= F.lit(p.draw_open))
        .groupBy("order_id")
        .agg(F.sum("amount_fen").alias("refunded_fen"))
    )
    return (
        attributed.join(refunded, on="order_id", how="left")
        .withColumn("paid_fen", F.coalesce("paid_fen", F.lit(0)).cast("long"))
        .withColumn("refunded_fen", F.coalesce("refunded_fen", F.lit(0)).cast("long"))
        .withColumn(
            "contribution_fen",
            F.greatest(F.col("paid_fen") - F.col("refunded_fen"), F.lit(0)).cast("long"),
        )
    )


def member_contributions(attributed: DataFrame) -> DataFrame:
    """(group_id, user_id, contribution_fen, attributed_orders) per buying member."""
    return attributed.groupBy("group_id", F.col("buyer_user_id").alias("user_id")).agg(
        F.sum("contribution_fen").cast("long").alias("contribution_fen"),
        F.count(F.lit(1)).alias("attributed_orders"),
    )
