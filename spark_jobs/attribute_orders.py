"""Attribute purchases to groups as of run date ds; the draw-date run freezes the result.

    spark-submit spark_jobs/attribute_orders.py --lake DIR --config FILE --ds DATE

Reads every lake partition up to ds. Before the freeze it writes the
standings as of ds; the run whose ds is the date of draw_open writes the
frozen snapshot (its partitions, then a digest manifest that commits them:
a re-run leaves a committed snapshot alone when it computes the same and fails
when it does not); later runs leave that snapshot alone and only refresh
memberships, orphans and the late-arrivals list.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from grouprebate.calendar import Phase, phase
from grouprebate.config import CampaignConfig
from grouprebate.contract import SOURCES
from grouprebate.errors import PermanentError
from grouprebate.publish.files import json_bytes, replace_atomically
from spark_jobs.contract_columns import record_schema
from spark_jobs.job_cli import run_job
from spark_jobs.lake import materialized, overwrite_partitions, partition_path, read_partitions
from spark_jobs.transforms.attribution import (
    attribute_orders,
    contributions,
    member_contributions,
)
from spark_jobs.transforms.groups import group_pools
from spark_jobs.transforms.membership import membership_intervals
from spark_jobs.transforms.params import RuleParams
from spark_jobs.transforms.reports import late_arrivals, orphans

FROZEN_TABLES = ("attributed_orders", "member_contributions", "group_pools")
FREEZE_MANIFEST = "attribution/_freeze_manifest.json"


class FrozenSnapshotConflict(PermanentError):
    """A re-run of the freeze date computed results that differ from the published ones."""


def read_lake(spark: SparkSession, lake: str, ds: dt.date) -> dict[str, DataFrame]:
    return {
        name: read_partitions(spark, lake, name, record_schema(source), ds)
        for name, source in SOURCES.items()
    }


def standings(tables: dict[str, DataFrame], intervals: DataFrame, p: RuleParams,
              keep: Callable[[DataFrame], DataFrame] = lambda df: df,
              ) -> dict[str, DataFrame]:
    """The attribution tables (attributed orders, member contributions, pools) as of the lake.

    Each table is built from the one before; `keep` materializes each as it is built
    (the job checkpoints them, spark_jobs.lake.materialized), so the next one reads it
    instead of its lineage.
    """
    attributed = keep(contributions(
        attribute_orders(tables["orders"], tables["payments"], tables["shares"], intervals, p),
        tables["refunds"], p,
    ))
    members = keep(member_contributions(attributed))
    pools = keep(group_pools(tables["groups"], tables["users"], tables["memberships"],
                             tables["shares"], intervals, members, p))
    return {"attributed_orders": attributed, "member_contributions": members,
            "group_pools": pools}


def table_digest(df: DataFrame) -> str:
    """An order-independent fingerprint of a table's rows (count and summed row hashes)."""
    row_hash = F.conv(F.substring(F.sha2(F.to_json(F.struct("*")), 256), 1, 15), 16, 10)
    result = df.agg(F.count(F.lit(1)).alias("n"),
                    F.sum(row_hash.cast("decimal(38,0)")).alias("h")).first()
    return f"{result['n']}:{result['h'] or 0}"


def check_freeze(results: dict[str, DataFrame], lake: str, ds: dt.date) -> dict[str, str] | None:
    """Digests of the freeze run's tables to commit, or None when they are committed already.

    The manifest is the snapshot's commit marker, written after the frozen partitions:
    without it those partitions are an unfinished freeze and are written again; with it
    they are published, never rewritten, and different results raise instead.
    """
    digests = {name: table_digest(results[name]) for name in FROZEN_TABLES}
    manifest = Path(lake) / FREEZE_MANIFEST
    if not manifest.exists():
        return digests
    if json.loads(manifest.read_text()) != digests:
        raise FrozenSnapshotConflict(
            f"the freeze run's results differ from the snapshot published in {manifest}; "
            "published pools never change. Investigate the landing partitions up to the "
            "draw date, or archive the snapshot deliberately before re-freezing."
        )
    missing = [name for name in FROZEN_TABLES
               if not Path(partition_path(f"{lake}/attribution", name, ds)).is_dir()]
    if missing:
        raise FrozenSnapshotConflict(
            f"{manifest} commits the frozen snapshot of ds={ds}, but the partitions of "
            f"{', '.join(missing)} are gone. Restore them from a backup, or archive the "
            "manifest and the snapshot deliberately before re-freezing."
        )
    return None


def write_tables(lake: str, ds: dt.date, tables: dict[str, DataFrame]) -> None:
    overwrite_partitions({f"attribution/{name}": df for name, df in tables.items()}, lake, ds)


def attribute(spark: SparkSession, lake: str, config: CampaignConfig, ds: dt.date) -> str:
    """Run the day's attribution; returns the calendar phase it ran in.

    Every run writes every table it owns (empty when there is nothing), so
    readers never meet a missing table.
    """
    at = phase(config, ds)
    p = RuleParams.from_config(config)
    tables = read_lake(spark, lake, ds)
    intervals = materialized(membership_intervals(tables["memberships"]))
    late = late_arrivals(tables, config.freeze_ds, config.draw_open)
    outputs = {"membership_intervals": intervals, "orphans": orphans(tables),
               "late_arrivals": late}
    if at is Phase.FROZEN:
        write_tables(lake, ds, outputs)
        return at.value
    results = standings(tables, intervals, p, materialized)
    if at is Phase.STANDINGS:
        write_tables(lake, ds, {**outputs, **results})
        return at.value
    digests = check_freeze(results, lake, ds)
    if digests is None:  # the committed snapshot holds these results: left as it is
        write_tables(lake, ds, outputs)
    else:  # the partitions first, then the manifest that commits them
        write_tables(lake, ds, {**outputs, **results})
        replace_atomically(Path(lake) / FREEZE_MANIFEST, json_bytes(digests))
    return at.value


def main(argv: list[str] | None = None) -> int:
    def body(spark, args, config) -> str:
        return f"attribute_orders ds={args.ds}: {attribute(spark, args.lake, config, args.ds)}"

    return run_job(__doc__, argv, body, (FrozenSnapshotConflict,))


if __name__ == "__main__":
    sys.exit(main())
