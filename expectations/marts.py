"""The marts suite: what the dbt tests do not guard, checked after each date's `dbt build`.

dbt's own tests hold every mart's keys, relationships and money identities on every build
(docs/quality.md). What they cannot see is a mart against its own past or against what an
analyst would call normal: counts that must never shrink once the draw has happened, the
freshness of the build, and two distributions. The warehouse computes the one row these
are read from (`campaign_summary` and the count of red packets at the cap), in SQL where
the data is; GX validates that row.

Counts are compared with the latest earlier date's results of this gate (its
`dq_results` file), so the suite depends on the config only. The distribution bounds are
warnings: they are recorded and shown, and do not stop the date, because an unusual
campaign is not wrong data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig

STAGE = "marts"
SUITE = "marts.campaign_summary"
NEVER_SHRINK = ("winners", "splits")
RULES = "docs/rules.md §4 draw and split"
WARNING = "warning"

HEALTH_SQL = """
select
    summary.run_ds,
    summary.is_frozen,
    summary.groups,
    summary.eligible_groups,
    summary.winners,
    summary.splits,
    case when summary.is_frozen
        then cast(summary.eligible_groups as double precision)
            / nullif(summary.groups, 0) end as eligible_share,
    capped.red_packets_at_cap,
    cast(capped.red_packets_at_cap as double precision)
    / nullif(capped.red_packets, 0) as red_packets_at_cap_share
from marts.campaign_summary as summary
cross join (
    select
        count(*) as red_packets,
        count(*) filter (where red_packet_fen >= ?) as red_packets_at_cap
    from marts.winner_list
) as capped
"""


def _before(name: str) -> str:
    return f"{name}_before"


def marts_suite(config: CampaignConfig) -> Any:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = [
        gxe.ExpectTableRowCountToEqual(
            value=1, meta={"rule": "docs/rules.md §5 campaign_summary: one row per run date"}),
        gxe.ExpectColumnValuesToBeBetween(
            column="run_ds", min_value={"$PARAMETER": "ds"}, max_value={"$PARAMETER": "ds"},
            meta={"rule": "docs/rules.md §4: the marts are built as of the run date (freshness)"}),
    ]
    expectations += [
        gxe.ExpectColumnMinToBeBetween(
            column=name, min_value={"$PARAMETER": _before(name)},
            meta={"rule": f"{RULES}: {name} never shrink once drawn (not below the latest "
                          f"earlier date)"})
        for name in NEVER_SHRINK
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column="eligible_share", min_value=config.min_eligible_share,
            max_value=config.max_eligible_share, severity=WARNING,
            meta={"rule": "distribution: share of groups eligible at the freeze within "
                          "quality.min_eligible_share..quality.max_eligible_share"}),
        gxe.ExpectColumnValuesToBeBetween(
            column="red_packets_at_cap_share", max_value=config.max_capped_red_packet_share,
            severity=WARNING,
            meta={"rule": "distribution: share of red packets at red_packet_cap_fen within "
                          "quality.max_capped_red_packet_share"}),
    ]
    return gx.ExpectationSuite(name=SUITE, expectations=expectations)


def counts_before(workdir: Path, ds: dt.date) -> dict[str, int]:
    """Each never-shrink count as the latest earlier date's marts gate observed it (0 before
    any): a re-run of an old date compares with the date before it, not with later ones."""
    import duckdb

    from expectations.gate import results_path

    found = sorted(results_path(workdir, STAGE, ds).parent.parent.glob(
        f"ds=*/{STAGE}.parquet"))
    earlier = [path for path in found if path.parent.name < f"ds={ds.isoformat()}"]
    counts = dict.fromkeys(NEVER_SHRINK, 0)
    if not earlier:
        return {_before(name): value for name, value in counts.items()}
    rows = duckdb.execute(
        "select column_name, observed_value from read_parquet(?) "
        "where suite = ? and expectation = 'expect_column_min_to_be_between'",
        [str(earlier[-1]), SUITE]).fetchall()
    for name, observed in rows:
        if name in counts and observed is not None:
            counts[name] = int(json.loads(observed))
    return {_before(name): value for name, value in counts.items()}


def marts_batches(warehouse: Path, workdir: Path, config: CampaignConfig,
                  ds: dt.date) -> list:
    """The run's summary row, computed in the warehouse (the DuckDB file, or Postgres on
    that target: warehouse_frame), as the marts gate's batch."""
    from expectations.gate import Batch
    from grouprebate.warehouse.marts import warehouse_frame

    health = warehouse_frame(warehouse, HEALTH_SQL, [config.red_packet_cap_fen])
    # DuckDB hands dates to pandas as datetime64: the run date is compared as its midnight.
    run_ds = dt.datetime.combine(ds, dt.time())
    return [Batch("marts.campaign_summary", marts_suite(config), health, ("run_ds",),
                  {"ds": run_ds, **counts_before(workdir, ds)})]
