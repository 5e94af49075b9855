"""Rows waiting for their parent (orphans) and rows that arrived after the freeze."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from grouprebate.contract import SOURCES

# Sources whose rows feed the frozen results (pools, validity, member counts).
FROZEN_INPUTS = ("users", "groups", "memberships", "shares", "orders", "payments", "refunds")


def _key(source: str) -> F.Column:
    return F.concat_ws("|", *[F.col(k).cast("string") for k in SOURCES[source].key])


def orphans(tables: Mapping[str, DataFrame]) -> DataFrame:
    """(source, row_key, parent_source, parent_id, ds): rows whose parent has not arrived.

    They are kept in the lake and take effect once the parent arrives.
    """
    found = []
    for name, source in SOURCES.items():
        if source.parent is None:
            continue
        field, parent = source.parent
        parent_ids = tables[parent].select(F.col(SOURCES[parent].key[0]).alias("_parent"))
        missing = tables[name].join(
            parent_ids, on=F.col(field) == F.col("_parent"), how="left_anti"
        )
        found.append(
            missing.select(
                F.lit(name).alias("source"), _key(name).alias("row_key"),
                F.lit(parent).alias("parent_source"), F.col(field).alias("parent_id"),
                F.col("ds").alias("arrival_ds"),
            )
        )
    result = found[0]
    for frame in found[1:]:
        result = result.unionByName(frame)
    return result


def late_arrivals(
    tables: Mapping[str, DataFrame], freeze_ds: dt.date, draw_open: dt.datetime
) -> DataFrame:
    """Rows that arrived after the freeze run but happened before draw_open: not applied."""
    found = []
    for name in FROZEN_INPUTS:
        source = SOURCES[name]
        late = tables[name].where(
            (F.col("ds") > F.lit(freeze_ds)) & (F.col(source.event_time) <= F.lit(draw_open))
        )
        found.append(
            late.select(
                F.lit(name).alias("source"), _key(name).alias("row_key"),
                F.col(source.event_time).alias("event_time"), F.col("ds").alias("arrival_ds"),
            )
        )
    result = found[0]
    for frame in found[1:]:
        result = result.unionByName(frame)
    return result
