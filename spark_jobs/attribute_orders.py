"""Attribute purchases to groups as of run date ds; the draw-date run freezes the result.

    spark-submit spark_jobs/attribute_orders.py --lake DIR --config FILE --ds DATE

Reads every lake partition up to ds. Before the freeze it writes the
standings as of ds; the run whose ds is the date of draw_open also writes
the frozen snapshot (refusing to overwrite a different one); later runs keep
the snapshot and only refresh memberships, orphans and the late-arrivals list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from grouprebate.config import CampaignConfig, ConfigError, load_config
from grouprebate.contract import SOURCES
from spark_jobs.contract_columns import record_schema
from spark_jobs.lake import overwrite_partition, read_partitions
from spark_jobs.session import get_spark
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


class FrozenSnapshotConflict(RuntimeError):
    """A re-run of the freeze date computed results that differ from the published ones."""


def read_lake(spark: SparkSession, lake: str, ds: dt.date) -> dict[str, DataFrame]:
    return {
        name: read_partitions(spark, lake, name, record_schema(source), ds)
        for name, source in SOURCES.items()
    }


def standings(tables: dict[str, DataFrame], intervals: DataFrame,
              p: RuleParams) -> dict[str, DataFrame]:
    """The attribution tables (attributed orders, member contributions, pools) as of the lake."""
    attributed = contributions(
        attribute_orders(tables["orders"], tables["payments"], tables["shares"], intervals, p),
        tables["payments"], tables["refunds"], p,
    )
    members = member_contributions(attributed)
    pools = group_pools(tables["groups"], tables["users"], tables["memberships"],
                        tables["shares"], intervals, members, p)
    return {"attributed_orders": attributed, "member_contributions": members,
            "group_pools": pools}


def table_digest(df: DataFrame) -> str:
    """An order-independent fingerprint of a table's rows (count and summed row hashes)."""
    row_hash = F.conv(F.substring(F.sha2(F.to_json(F.struct("*")), 256), 1, 15), 16, 10)
    result = df.agg(F.count(F.lit(1)).alias("n"),
                    F.sum(row_hash.cast("decimal(38,0)")).alias("h")).first()
    return f"{result['n']}:{result['h'] or 0}"


def freeze(tables: dict[str, DataFrame], lake: str) -> None:
    """Write the frozen snapshot once; an identical re-run is a no-op, a different one fails."""
    manifest_path = Path(lake) / "frozen" / "_manifest.json"
    digests = {name: table_digest(tables[name]) for name in FROZEN_TABLES}
    if manifest_path.exists():
        published = json.loads(manifest_path.read_text())
        if published != digests:
            raise FrozenSnapshotConflict(
                f"the frozen snapshot in {manifest_path.parent} was published with different "
                "contents; published pools never change. Investigate the landing partitions "
                "up to the draw date, or archive the snapshot deliberately before re-freezing."
            )
        return
    for name in FROZEN_TABLES:
        tables[name].write.mode("overwrite").parquet(f"{lake}/frozen/{name}")
    manifest_path.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")


def attribute(spark: SparkSession, lake: str, config: CampaignConfig, ds: dt.date) -> str:
    """Run the day's attribution; returns the phase it ran ('standings', 'freeze', 'frozen')."""
    p = RuleParams.from_config(config)
    tables = read_lake(spark, lake, ds)
    intervals = membership_intervals(tables["memberships"]).cache()
    overwrite_partition(intervals, lake, "attribution/membership_intervals", ds)
    overwrite_partition(orphans(tables), lake, "attribution/orphans", ds)
    if ds > config.freeze_ds:
        late = late_arrivals(tables, config.freeze_ds, config.draw_open)
        overwrite_partition(late, lake, "attribution/late_arrivals", ds)
        return "frozen"
    results = {name: df.cache() for name, df in standings(tables, intervals, p).items()}
    for name, df in results.items():
        overwrite_partition(df, lake, f"attribution/{name}", ds)
    if ds == config.freeze_ds:
        freeze(results, lake)
        return "freeze"
    return "standings"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="root of the lake (job outputs)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--ds", required=True, type=dt.date.fromisoformat)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, need_seed=False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = get_spark(f"attribute_orders {args.ds}")
    try:
        phase = attribute(spark, args.lake, config, args.ds)
    except FrozenSnapshotConflict as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"attribute_orders ds={args.ds}: {phase}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
