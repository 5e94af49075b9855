"""Client versions compare as numbers component by component (8.10.0 > 8.9.0)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

WIDTH = 10  # the contract allows at most 10 components


def version_array(version: Column) -> Column:
    """An int array padded with zeros, so array ordering is version ordering.

    The components are cast as one array (no per-element lambda): evaluating a
    lambda per component was a visible share of the attribution's scans of orders
    and shares, which run again every day.
    """
    parts = F.split(version, r"\.").cast("array<int>")
    return F.concat(parts, F.array_repeat(F.lit(0), F.lit(WIDTH) - F.size(parts)))


def version_at_least(version: Column, minimum: str) -> Column:
    return version_array(version) >= version_array(F.lit(minimum))
