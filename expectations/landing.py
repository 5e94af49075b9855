"""The landing → lake suite: what the day's accepted rows of every source must satisfy.

Built from the one input contract (grouprebate.contract): the columns and their types
as written to each partition, enums, minimums, the dedup key unique within the day, event
times inside the campaign calendar and not after the arrival day's end plus the clock
skew, and each source's bad-row rate in the ingest report within
quality.max_bad_row_rate. The day's partitions and its report are validated together, as
one combined check frame (expectations.gate.combined): the gate costs one GX run, not one
per source. The suite depends on the config only, not on the date: the arrival day's
deadline is a suite parameter, given with the batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from expectations.gate import (
    Batch,
    QualityGateFailed,
    column_of,
    combined,
    holds,
    one_task_if_small,
)
from grouprebate.config import CampaignConfig
from grouprebate.contract import SOURCES, Source, ds_deadline

SUITE = "landing"
REPORT = "ingest_report"
CONTRACT = "docs/rules.md §3 input contract"
GATE = "docs/rules.md §3 bad-row gate: quality.max_bad_row_rate"
DEADLINE = "arrival_deadline"
# Profiles are state, not campaign events: a user's valid_from may predate the calendar.
STATE_SOURCES = frozenset({"users"})
# The check frame's column that says no other row of the day has the row's dedup key.
UNIQUE = "key_unique"


def calendar_opens(config: CampaignConfig) -> dt.datetime:
    return dt.datetime.combine(config.calendar_start, dt.time(), tzinfo=config.tz)


def source_expectations(source: Source, schema: Any, config: CampaignConfig) -> list:
    """The expectations of one source's accepted rows of a day, on its columns of the
    combined frame; its lake schema (spark_jobs.ingest_landing.lake_schema) gives the
    types, the suite parameter DEADLINE the arrival day's end."""
    import great_expectations.expectations as gxe

    def column(name: str) -> str:
        return column_of(source.name, name)

    def meta(clause: str) -> dict:
        return {"rule": f"{CONTRACT}: {clause}", "table": f"lake.{source.name}"}

    expectations = []
    for field in source.fields:
        expectations.append(gxe.ExpectColumnValuesToBeOfType(
            column=column(field.name), type_=type(schema[field.name].dataType).__name__,
            meta=meta(f"{field.name} is {field.kind}")))
        if field.choices:
            expectations.append(gxe.ExpectColumnValuesToBeInSet(
                column=column(field.name), value_set=list(field.choices),
                meta=meta(f"{field.name} one of {', '.join(field.choices)}")))
        if field.minimum is not None:
            expectations.append(gxe.ExpectColumnValuesToBeBetween(
                column=column(field.name), min_value=field.minimum,
                meta=meta(f"{field.name} >= {field.minimum}")))
    expectations.append(holds(column(UNIQUE),
                              meta(f"{'+'.join(source.key)} unique after dedup")))
    latest = {"$PARAMETER": DEADLINE}
    late = f"{source.event_time} not after the end of its arrival day plus 1 hour"
    if source.name in STATE_SOURCES:
        expectations.append(gxe.ExpectColumnValuesToBeBetween(
            column=column(source.event_time), max_value=latest, meta=meta(late)))
    else:
        expectations.append(gxe.ExpectColumnValuesToBeBetween(
            column=column(source.event_time), min_value=calendar_opens(config),
            max_value=latest,
            meta=meta(f"{source.event_time} inside the campaign calendar and {late}")))
    return expectations


def check_columns() -> dict[str, list[str]]:
    """Each table's columns in the day's check frame, before `combined` prefixes them: the
    report's, and each source's lake columns with its UNIQUE flag."""
    from spark_jobs.ingest_landing import REPORT_SCHEMA, lake_schema

    return {REPORT: REPORT_SCHEMA.fieldNames(),
            **{name: [*lake_schema(source).fieldNames(), UNIQUE]
               for name, source in SOURCES.items()}}


def lake_suite(config: CampaignConfig) -> Any:
    """The day's suite: exactly the report's columns and every source's lake columns with
    its UNIQUE flag, each source's expectations, and the bad-row gate on the report."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from spark_jobs.ingest_landing import lake_schema

    expectations = [gxe.ExpectColumnValuesToBeBetween(
        column=column_of(REPORT, "bad_rate"), min_value=0, max_value=config.max_bad_row_rate,
        meta={"rule": GATE, "table": f"lake.{REPORT}"})]
    for source in SOURCES.values():
        expectations += source_expectations(source, lake_schema(source), config)
    shape = gxe.ExpectTableColumnsToMatchSet(
        column_set=[column_of(table, name) for table, names in check_columns().items()
                    for name in names], exact_match=True,
        meta={"rule": f"{CONTRACT}: the fields of each source, as its lake table writes them"})
    return gx.ExpectationSuite(name=SUITE, expectations=[shape, *expectations])


def deadline(config: CampaignConfig, ds: dt.date) -> dict[str, dt.datetime]:
    """The suite parameter of a day: the latest event time its arrival day accepts."""
    return {DEADLINE: ds_deadline(ds, config.tz)}


def lake_batch(config: CampaignConfig, ds: dt.date, report: Any,
               sources: dict[str, Any]) -> Batch:
    """The day's ingest report and its sources' rows (by source name; None or absent for
    a source without rows) as the gate's batch, checked for success only while it passes
    (a failing run adds counts and the failing rows, named by the report's source or by a
    source's key, file and line). Each source gets its UNIQUE flag; one without rows is an
    empty table of its lake schema."""
    from spark_jobs.ingest_landing import lake_schema

    columns = check_columns()
    frames = {REPORT: (report, columns[REPORT])}
    keys = [column_of(REPORT, "source")]
    for name, source in SOURCES.items():
        frame = sources.get(name)
        if frame is None:
            frame = report.sparkSession.createDataFrame([], lake_schema(source))
        frames[name] = (frame, columns[name])
        keys += [column_of(name, key) for key in (*source.key, "file", "line")]
    unique = {name: (source.key, UNIQUE) for name, source in SOURCES.items()}
    return Batch(f"lake ds={ds}", lake_suite(config), combined(frames, unique), tuple(keys),
                 deadline(config, ds), counts=False)


def landing_batches(spark: Any, lake: str, config: CampaignConfig, ds: dt.date) -> list:
    """The day's gate batch: its ingest report and each source's partition with rows, as
    their files were written (their own column types, which the suite checks).

    The report says which sources brought rows (a source without any has nothing to
    check); a day without a report was not ingested, and fails the gate.
    """
    from spark_jobs.lake import partition_path, read_as_written

    report = read_as_written(spark, partition_path(lake, REPORT, ds))
    if report is None:
        raise QualityGateFailed(f"landing gate, ds={ds}: lake.{REPORT} has no partition "
                                f"for the date: the day was not ingested")
    ingested = [name for name, rows in report.select("source", "ingested").collect() if rows]
    folders = {name: partition_path(lake, name, ds) for name in ingested}
    batch = lake_batch(config, ds, report, {name: read_as_written(spark, folder)
                                            for name, folder in folders.items()})
    return [replace(batch, frame=one_task_if_small(batch.frame, folders.values()))]
