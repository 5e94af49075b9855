"""Membership (docs/rules.md §4): u is a member of g at t iff its latest event <= t is a join.

Events are ordered per (group, user) by (event_time, event_id); each event
starts an interval that lasts until the next event of the same pair, so
"member at t" is "t falls in an interval opened by a join".
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def membership_intervals(events: DataFrame) -> DataFrame:
    """(group_id, user_id, joined_at, left_at): member on [joined_at, left_at); null = open."""
    pair = Window.partitionBy("group_id", "user_id").orderBy("event_time", "event_id")
    return (
        events.withColumn("next_event_time", F.lead("event_time").over(pair))
        .where(F.col("action") == "join")
        .where(F.col("next_event_time").isNull()
               | (F.col("next_event_time") > F.col("event_time")))
        .select(
            "group_id",
            "user_id",
            F.col("event_time").alias("joined_at"),
            F.col("next_event_time").alias("left_at"),
        )
    )


def member_at(intervals_alias: str, at: F.Column) -> F.Column:
    """Condition: the interval named by the alias ("" for none) contains the instant `at`."""
    prefix = f"{intervals_alias}." if intervals_alias else ""
    joined, left = F.col(f"{prefix}joined_at"), F.col(f"{prefix}left_at")
    return (joined <= at) & (left.isNull() | (left > at))


def members_at(intervals: DataFrame, at: dt.datetime) -> DataFrame:
    """(group_id, user_id) of everyone who is a member at the instant `at`."""
    return (
        intervals.where(member_at("", F.lit(at))).select("group_id", "user_id").distinct()
    )


def peak_member_counts(events: DataFrame, until: dt.datetime) -> DataFrame:
    """(group_id, peak_members): the most members a group had at any instant <= until.

    Counts are taken after all events sharing one timestamp, since no instant
    sees a state half-way through them.
    """
    pair = Window.partitionBy("group_id", "user_id").orderBy("event_time", "event_id")
    state = F.when(F.col("action") == "join", 1).otherwise(0)
    deltas = (
        events.where(F.col("event_time") <= F.lit(until))
        .withColumn("is_member", state)
        .withColumn("was_member", F.coalesce(F.lag(state).over(pair), F.lit(0)))
        .groupBy("group_id", "event_time")
        .agg(F.sum(F.col("is_member") - F.col("was_member")).alias("delta"))
    )
    running = Window.partitionBy("group_id").orderBy("event_time").rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    return (
        deltas.withColumn("members", F.sum("delta").over(running))
        .groupBy("group_id")
        .agg(F.max("members").alias("peak_members"))
    )
