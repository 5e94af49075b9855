"""Group validity, pools, member counts at draw_open and eligibility (docs/rules.md §4)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark_jobs.transforms.membership import members_at, peak_member_counts
from spark_jobs.transforms.params import RuleParams


def creator_profiles(groups: DataFrame, users: DataFrame) -> DataFrame:
    """Each group's creator profile in force at created_at (latest valid_from <= created_at)."""
    g, u = groups.alias("g"), users.alias("u")
    in_force = (F.col("g.creator_user_id") == F.col("u.user_id")) & (
        F.col("u.valid_from") <= F.col("g.created_at")
    )
    latest = Window.partitionBy("g.group_id").orderBy(F.col("u.valid_from").desc())
    return (
        g.join(u, on=in_force, how="left")
        .withColumn("rank", F.row_number().over(latest))
        .where(F.col("rank") == 1)
        .select(
            "g.group_id", "g.creator_user_id", "g.created_at",
            F.col("u.gender").alias("creator_gender"),
            F.col("u.naughty_value").alias("creator_naughty_value"),
        )
    )


def known_groups(groups: DataFrame, memberships: DataFrame, shares: DataFrame) -> DataFrame:
    """Every group id seen anywhere, so an orphan group is excluded with a reason, not lost."""
    return (
        groups.select("group_id")
        .unionByName(memberships.select("group_id"))
        .unionByName(shares.select("group_id"))
        .distinct()
    )


def invalid_reasons(p: RuleParams) -> F.Column:
    """All reasons a group cannot enter the draw, joined by '; ' (null when valid)."""
    reasons = [
        F.when(F.col("created_at").isNull(), F.lit("group record not received")),
        F.when(
            F.col("created_at").isNotNull() & F.col("creator_gender").isNull(),
            F.lit("creator profile unknown at creation"),
        ),
        F.when(
            F.col("creator_gender") != p.creator_gender,
            F.format_string(f"creator gender %s, must be {p.creator_gender}",
                            F.col("creator_gender")),
        ),
        F.when(
            F.col("creator_naughty_value") < p.creator_min_naughty_value,
            F.format_string(
                f"creator naughty value %d below {p.creator_min_naughty_value}",
                F.col("creator_naughty_value"),
            ),
        ),
        F.when(
            F.col("peak_members") > p.group_max_members,
            F.format_string(
                f"%d members at once before draw_open, more than {p.group_max_members}",
                F.col("peak_members"),
            ),
        ),
    ]
    joined = F.concat_ws("; ", *reasons)
    return F.when(joined != "", joined)


def group_pools(
    groups: DataFrame,
    users: DataFrame,
    memberships: DataFrame,
    shares: DataFrame,
    intervals: DataFrame,
    members: DataFrame,
    p: RuleParams,
) -> DataFrame:
    """One row per known group: validity, pool, member count at draw_open, eligibility."""
    counts = (
        members_at(intervals, p.draw_open)
        .groupBy("group_id")
        .agg(F.count(F.lit(1)).alias("member_count_at_draw_open"))
    )
    pools = members.groupBy("group_id").agg(
        F.sum("contribution_fen").cast("long").alias("pool_fen"),
        F.sum("attributed_orders").cast("long").alias("attributed_orders"),
    )
    table = (
        known_groups(groups, memberships, shares)
        .join(creator_profiles(groups, users), on="group_id", how="left")
        .join(peak_member_counts(memberships, p.draw_open), on="group_id", how="left")
        .join(counts, on="group_id", how="left")
        .join(pools, on="group_id", how="left")
        .fillna(0, subset=["peak_members", "member_count_at_draw_open", "pool_fen",
                           "attributed_orders"])
        .withColumn("invalid_reason", invalid_reasons(p))
        .withColumn("is_valid", F.col("invalid_reason").isNull())
    )
    return table.withColumn(
        "is_eligible",
        F.col("is_valid")
        & (F.col("member_count_at_draw_open") >= p.group_min_members)
        & (F.col("pool_fen") > 0),
    ).select(
        "group_id", "creator_user_id", "created_at", "creator_gender", "creator_naughty_value",
        F.col("peak_members").cast("int").alias("peak_members_before_draw"),
        F.col("member_count_at_draw_open").cast("int"),
        "pool_fen", "attributed_orders", "is_valid", "invalid_reason", "is_eligible",
    )
