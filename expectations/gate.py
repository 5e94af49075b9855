"""Run one stage's suites as a gate: validate, record, render, and fail the date on a break.

Every batch is validated through its suite's checkpoint (GX keeps the result for Data Docs);
each expectation's outcome becomes a row of WORKDIR/lake/dq_results/ds=D/<stage>.parquet,
which `marts.dq_results` reads; a broken critical expectation raises `QualityGateFailed`
naming the suite, the expectation, the table and a sample of the failing values, while a
broken warning is recorded and logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expectations.context import PANDAS_SOURCE, SPARK_SOURCE, quality_context
from grouprebate.errors import PermanentError

SAMPLE_SIZE = 5
# A check frame read from fewer bytes than this is validated in one task: each task of
# GX's aggregate query builds the code of its hundreds of expressions again (tens of
# milliseconds to a few tenths each), which costs more than a small day's rows do.
ONE_TASK_BYTES = 64 * 1024 * 1024
# A failed expectation of this severity fails the gate; a lower one ("warning") is
# recorded, shown and logged, and the date goes on.
CRITICAL = "critical"
log = logging.getLogger(__name__)
RESULT_COLUMNS = {
    "run_ds": "date32", "stage": "string", "suite": "string", "table_name": "string",
    "expectation": "string", "column_name": "string", "rule": "string",
    "severity": "string", "success": "bool", "observed_value": "string",
    "element_count": "int64", "unexpected_count": "int64", "unexpected_sample": "string",
}


class QualityGateFailed(PermanentError):
    """A stage's data breaks an expectation: nothing downstream may read it."""


@dataclass(frozen=True)
class Batch:
    """One table to validate: its name for people, its suite, the Spark DataFrame, the
    columns that name a failing row in the sample (its key), the values of the suite's
    parameters for this date, and whether a passing run records GX's counts and observed
    values (`counts`) or success only, which GX computes in one aggregate query per table
    instead of a further query per column rule."""

    table: str
    suite: Any
    frame: Any
    keys: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: bool = True


@dataclass(frozen=True)
class GateSummary:
    stage: str
    expectations: int
    failed: int
    warnings: int = 0

    def __str__(self) -> str:
        warned = f", {self.warnings} warnings" if self.warnings else ""
        return f"{self.stage}: {self.expectations} expectations, {self.failed} failed{warned}"


def holds(column: str, meta: dict) -> Any:
    """A rule the check frame computes per row as a boolean: it must be true."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True], meta=meta)


def with_unique_flag(frame: Any, keys: tuple[str, ...] | list[str], column: str) -> Any:
    """frame with `column`: no other row has this row's keys (nulls count as equal). A window
    in the plan of the table's other checks; GX's own uniqueness expectations on Spark run a
    query each."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    return frame.withColumn(column, F.count(F.lit(1)).over(Window.partitionBy(*keys)) == 1)


def column_of(table: str, column: str) -> str:
    """A table's column as named in a stage's combined check frame (see `combined`)."""
    return f"{table}__{column}"


# The columns `combined` computes the uniqueness flags with, dropped once they are set.
_TABLE, _KEY, _ONCE = "__table", "__key", "__once"


def combined(frames: dict[str, tuple[Any, list[str]]],
             unique: dict[str, tuple[Sequence[str], str]] | None = None) -> Any:
    """A stage's tables, by name, each with the columns it should have, as one check frame:
    each table's columns renamed `column_of(table, column)`, its rows null in the other
    tables' columns. GX then validates a stage in one run and one aggregate query instead
    of one per table (a column rule skips nulls, so it sees its own table's rows only), and
    each column keeps the type its table wrote. A column a table should not have keeps its
    own name, which the stage's column-set expectation then reports.

    `unique` gives, by table, its key columns and the name of the flag column that says no
    other row of the table has the row's key (nulls count as equal). All tables' flags come
    from one window over their rows together, keyed by table and key: one shuffle for the
    stage, not one per table.
    """
    from functools import reduce

    from pyspark.sql import functions as F

    def union(parts: list[Any]) -> Any:
        return reduce(lambda one, other: one.unionByName(other, allowMissingColumns=True), parts)

    renamed = {table: frame.withColumnsRenamed({name: column_of(table, name) for name in columns})
               for table, (frame, columns) in frames.items()}
    unique = unique or {}
    if not unique:
        return union(list(renamed.values()))
    keyed = union([renamed[table].withColumns({
        _TABLE: F.lit(table),
        _KEY: F.to_json(F.array(*[F.col(column_of(table, key)).cast("string") for key in keys])),
    }) for table, (keys, _) in unique.items()])
    flagged = with_unique_flag(keyed, [_TABLE, _KEY], _ONCE).withColumns({
        column_of(table, flag): F.when(F.col(_TABLE) == table, F.col(_ONCE))
        for table, (_, flag) in unique.items()}).drop(_TABLE, _KEY, _ONCE)
    return union([flagged, *(frame for table, frame in renamed.items() if table not in unique)])


def one_task_if_small(frame: Any, paths: Iterable[str | Path]) -> Any:
    """frame in one partition when the files it reads (`paths`: files, or folders of
    them) hold less than ONE_TASK_BYTES; as Spark splits it otherwise."""
    def size(path: Path) -> int:
        if path.is_dir():
            return sum(part.stat().st_size for part in path.rglob("*") if part.is_file())
        return path.stat().st_size if path.is_file() else 0

    total = sum(size(Path(path)) for path in paths)
    return frame.coalesce(1) if total < ONE_TASK_BYTES else frame


def results_path(workdir: Path, stage: str, ds: dt.date) -> Path:
    return workdir / "lake" / "dq_results" / f"ds={ds.isoformat()}" / f"{stage}.parquet"


# The checkpoints this process has registered, by work directory, suite, keys, data
# source and counts: a suite that has not changed is not written to the GX project again
# on the next date.
_REGISTERED: dict[tuple[str, str, str, tuple[str, ...], str, bool], tuple[Any, Any]] = {}


def _registered(context: Any, workdir: Path, batch: Batch) -> tuple[Any, Any]:
    """The batch's checkpoints, registered on first use. The key holds the suite's name and
    its expectations' repr, which shows every field of each and costs far less than
    serializing the suite."""
    source = _source_of(batch.frame)
    key = (str(workdir.resolve()), batch.suite.name, repr(batch.suite.expectations),
           batch.keys, source, batch.counts)
    if key not in _REGISTERED:
        _REGISTERED[key] = _checkpoints(context, batch.suite, batch.keys, source, batch.counts)
    return _REGISTERED[key]


def _source_of(frame: Any) -> str:
    """Spark stages hand a Spark DataFrame; the warehouse gate a small pandas one."""
    return PANDAS_SOURCE if type(frame).__module__.startswith("pandas") else SPARK_SOURCE


def _checkpoints(context: Any, suite: Any, keys: tuple[str, ...], source_name: str,
                 counts: bool) -> tuple[Any, Any]:
    """The suite's two checkpoints over a whole DataFrame, created on first use.

    The first asks for success, with counts (BASIC, a query per column rule on Spark) or
    without (BOOLEAN_ONLY, one aggregate query); the second, run only when the first
    fails, adds counts and a sample of the failing rows (named by `keys`), which costs
    several more queries per expectation.
    """
    import great_expectations as gx

    source = context.data_sources.get(source_name)
    try:
        asset = source.get_asset(suite.name)
    except LookupError:
        asset = source.add_dataframe_asset(suite.name)
    if asset.batch_definitions:
        batch_definition = asset.batch_definitions[0]
    else:
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(suite)
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite))
    quick = "BASIC" if counts else "BOOLEAN_ONLY"
    details = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    if keys:
        details["unexpected_index_column_names"] = list(keys)
    return tuple(
        context.checkpoints.add_or_update(gx.Checkpoint(
            name=name, validation_definitions=[validation], result_format=result_format))
        for name, result_format in ((suite.name, {"result_format": quick,
                                                  "partial_unexpected_count": 0}),
                                    (f"{suite.name}.details", details)))


def _text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _sample(result: dict) -> list | None:
    """The failing rows' keys and values; a row of a combined check frame lists only the
    columns its own table fills (the others are null by construction)."""
    indexed = result.get("partial_unexpected_index_list")
    if indexed:
        return [{name: value for name, value in row.items() if value is not None}
                for row in indexed]
    return result.get("partial_unexpected_list")


def _checked(result: dict) -> int | None:
    """The rows that hold a value the expectation checked: GX counts a combined frame's
    rows of other tables as missing."""
    count = result.get("element_count")
    return None if count is None else count - (result.get("missing_count") or 0)


def _rows(stage: str, ds: dt.date, batch: Batch, validation: Any) -> list[dict]:
    rows = []
    for outcome in validation.results:
        config = outcome.expectation_config
        result = outcome.result or {}
        meta = config.meta or {}
        rows.append({
            "run_ds": ds, "stage": stage, "suite": batch.suite.name,
            "table_name": f"{meta['table']} ds={ds}" if "table" in meta else batch.table,
            "expectation": config.type, "column_name": config.kwargs.get("column"),
            "rule": meta.get("rule"), "severity": str(config.severity.value),
            "success": bool(outcome.success),
            "observed_value": _text(result.get("observed_value")),
            "element_count": _checked(result),
            "unexpected_count": result.get("unexpected_count"),
            "unexpected_sample": _text(_sample(result)),
        })
    return rows


def write_results(workdir: Path, stage: str, ds: dt.date, rows: list[dict]) -> Path:
    """Overwrite this stage's results of ds (a re-run replaces them) as one Parquet file,
    written aside and renamed so a reader never sees half of it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = results_path(workdir, stage, ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(name, pa.type_for_alias(kind)) for name, kind in RESULT_COLUMNS.items()])
    partial = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), partial)
    partial.replace(path)
    return path


def _failure(row: dict) -> str:
    where = f" column {row['column_name']}" if row["column_name"] else ""
    return (f"suite {row['suite']}: {row['expectation']}{where} failed on {row['table_name']}"
            f" ({row['rule']}); unexpected {row['unexpected_count']} of "
            f"{row['element_count']}, observed {row['observed_value']}, "
            f"sample {row['unexpected_sample']}")


def run_gate(workdir: Path, stage: str, ds: dt.date, batches: list[Batch],
             index: bool = True) -> GateSummary:
    """Validate every batch, record the results and render their Data Docs pages; raise on
    a break. The site's index, which lists every result of every date, is rebuilt when
    `index` is set (the date's last gate) or the gate fails (no later gate runs)."""
    from great_expectations.core.run_identifier import RunIdentifier

    context = quality_context(workdir)
    run_id = RunIdentifier(run_name=f"{ds.isoformat()} {stage}")
    rows: list[dict] = []
    stored = []
    for batch in batches:
        quick, detailed = _registered(context, workdir, batch)
        run = {"batch_parameters": {"dataframe": batch.frame},
               "expectation_parameters": batch.parameters, "run_id": run_id}
        result = quick.run(**run)
        if not result.success:
            result = detailed.run(**run)
        stored += list(result.run_results)
        for validation in result.run_results.values():
            rows += _rows(stage, ds, batch, validation)
    write_results(workdir, stage, ds, rows)
    failed = [row for row in rows if not row["success"] and row["severity"] == CRITICAL]
    if stored:  # no identifiers would rebuild every page of every date
        context.build_data_docs(resource_identifiers=stored, build_index=index or bool(failed))
    warned = [row for row in rows if not row["success"] and row["severity"] != CRITICAL]
    if failed:
        raise QualityGateFailed(
            f"{stage} gate, ds={ds}: {len(failed)} of {len(rows)} expectations failed — "
            + "; ".join(_failure(row) for row in failed))
    for row in warned:
        log.warning("%s gate, ds=%s, warning: %s", stage, ds, _failure(row))
    return GateSummary(stage, len(rows), len(failed), len(warned))
