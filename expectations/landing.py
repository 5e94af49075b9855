"""The landing → lake suite: what the day's accepted rows of each source must satisfy.

Built from the one input contract (grouprebate.contract): the columns and their types
as written to the partition, enums, minimums, the dedup key unique within the day, event
times inside the campaign calendar and not after the arrival day's end plus the clock
skew. The bad-row rate per source is checked on the ingest report against
quality.max_bad_row_rate. A suite depends on the config only, not on the date: the
arrival day's deadline is a suite parameter, given with the batch.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from expectations.gate import Batch, QualityGateFailed, holds, with_unique_flag
from grouprebate.config import CampaignConfig
from grouprebate.contract import SOURCES, Source, ds_deadline

CONTRACT = "docs/rules.md §3 input contract"
GATE = "docs/rules.md §3 bad-row gate: quality.max_bad_row_rate"
DEADLINE = "arrival_deadline"
# Profiles are state, not campaign events: a user's valid_from may predate the calendar.
STATE_SOURCES = frozenset({"users"})
# The check frame's column that says no other row of the day has the row's dedup key.
UNIQUE = "key_unique"


def calendar_opens(config: CampaignConfig) -> dt.datetime:
    return dt.datetime.combine(config.calendar_start, dt.time(), tzinfo=config.tz)


def source_suite(source: Source, schema: Any, config: CampaignConfig) -> Any:
    """The suite of one source's accepted rows of a day (its parameters from `deadline`),
    whose lake schema (spark_jobs.ingest_landing.lake_schema) gives columns and types.
    It checks the check frame of `source_batch`: the partition and its UNIQUE column."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    def meta(clause: str) -> dict:
        return {"rule": f"{CONTRACT}: {clause}"}

    expectations = [gxe.ExpectTableColumnsToMatchSet(
        column_set=[*schema.fieldNames(), UNIQUE], exact_match=True,
        meta=meta(f"the fields of {source.name}"))]
    for field in source.fields:
        expectations.append(gxe.ExpectColumnValuesToBeOfType(
            column=field.name, type_=type(schema[field.name].dataType).__name__,
            meta=meta(f"{field.name} is {field.kind}")))
        if field.choices:
            expectations.append(gxe.ExpectColumnValuesToBeInSet(
                column=field.name, value_set=list(field.choices),
                meta=meta(f"{field.name} one of {', '.join(field.choices)}")))
        if field.minimum is not None:
            expectations.append(gxe.ExpectColumnValuesToBeBetween(
                column=field.name, min_value=field.minimum,
                meta=meta(f"{field.name} >= {field.minimum}")))
    expectations.append(holds(UNIQUE, meta(f"{'+'.join(source.key)} unique after dedup")))
    latest = {"$PARAMETER": DEADLINE}
    late = f"{source.event_time} not after the end of its arrival day plus 1 hour"
    if source.name in STATE_SOURCES:
        expectations.append(gxe.ExpectColumnValuesToBeBetween(
            column=source.event_time, max_value=latest, meta=meta(late)))
    else:
        expectations.append(gxe.ExpectColumnValuesToBeBetween(
            column=source.event_time, min_value=calendar_opens(config), max_value=latest,
            meta=meta(f"{source.event_time} inside the campaign calendar and {late}")))
    return gx.ExpectationSuite(name=f"landing.{source.name}", expectations=expectations)


def deadline(config: CampaignConfig, ds: dt.date) -> dict[str, dt.datetime]:
    """The suite parameter of a day: the latest event time its arrival day accepts."""
    return {DEADLINE: ds_deadline(ds, config.tz)}


def source_batch(table: str, source: Source, frame: Any, config: CampaignConfig,
                 ds: dt.date) -> Batch:
    """One source's rows of ds as a gate batch: the rows with their UNIQUE flag, checked
    for success only while they pass (a failing run adds counts and the failing rows)."""
    from spark_jobs.ingest_landing import lake_schema

    return Batch(table, source_suite(source, lake_schema(source), config),
                 with_unique_flag(frame, source.key, UNIQUE), (*source.key, "file", "line"),
                 deadline(config, ds), counts=False)


def report_suite(config: CampaignConfig) -> Any:
    """The bad-row gate: each source's bad rows / rows of the day within the threshold."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(name="landing.ingest_report", expectations=[
        gxe.ExpectColumnValuesToBeBetween(column="bad_rate", min_value=0,
                                          max_value=config.max_bad_row_rate,
                                          meta={"rule": GATE}),
    ])


def _partition(spark: Any, lake: str, table: str, ds: dt.date) -> Any | None:
    """One partition as its files were written (their own column types, which the suite
    checks), or None when it has no files."""
    from spark_jobs.lake import partition_path

    path = partition_path(lake, table, ds)
    return spark.read.parquet(path) if any(Path(path).glob("*.parquet")) else None


def landing_batches(spark: Any, lake: str, config: CampaignConfig, ds: dt.date) -> list:
    """The day's ingest report and each source's partition with rows, as gate batches.

    The report says which sources brought rows (a source without any has nothing to
    check); a day without a report was not ingested, and fails the gate.
    """
    report = _partition(spark, lake, "ingest_report", ds)
    if report is None:
        raise QualityGateFailed(f"landing gate, ds={ds}: lake.ingest_report has no partition "
                                f"for the date: the day was not ingested")
    ingested = dict(report.select("source", "ingested").collect())
    batches = [Batch(f"lake.ingest_report ds={ds}", report_suite(config), report, ("source",),
                     counts=False)]
    for name, source in SOURCES.items():
        frame = _partition(spark, lake, name, ds) if ingested.get(name) else None
        if frame is not None:
            batches.append(source_batch(f"lake.{name} ds={ds}", source, frame, config, ds))
    return batches
