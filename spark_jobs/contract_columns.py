"""The input contract (grouprebate.contract) as Spark expressions.

Lines are parsed as VARIANT so a JSON integer, a string and a decimal stay
distinguishable, exactly as the plain-Python check sees them; the quarantine
reasons are the contract's own texts.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from grouprebate import contract
from grouprebate.contract import Field, Source

_SPARK_TYPES = {
    contract.ID: T.StringType(),
    contract.TEXT: T.StringType(),
    contract.ENUM: T.StringType(),
    contract.VERSION: T.StringType(),
    contract.INT: T.LongType(),
    contract.TIMESTAMP: T.TimestampType(),
}


def record_schema(source: Source) -> T.StructType:
    """The lake schema of a source: its typed contract fields."""
    return T.StructType(
        [T.StructField(f.name, _SPARK_TYPES[f.kind], nullable=False) for f in source.fields]
    )


def _raw(field: Field) -> Column:
    return F.expr(f"variant_get(parsed, '$.{field.name}')")


def _text(field: Field) -> Column:
    return F.expr(f"try_variant_get(parsed, '$.{field.name}', 'string')")


def typed_value(field: Field) -> Column:
    """The field's typed value (valid rows only: checks come from field_reason)."""
    if field.kind == contract.INT:
        return F.expr(f"try_variant_get(parsed, '$.{field.name}', 'bigint')")
    if field.kind == contract.TIMESTAMP:
        return F.try_to_timestamp(_text(field))
    return _text(field)


def field_reason(field: Field) -> Column:
    """Why this field breaks the contract, or null — same order as contract._check_value."""
    raw = _raw(field)
    kind = F.schema_of_variant(raw)
    expected = "BIGINT" if field.kind == contract.INT else "STRING"
    text = _text(field)
    checks = [
        (raw.isNull() | F.is_variant_null(raw), contract.reason_missing(field.name)),
        (kind != F.lit(expected), contract.reason_mistyped(field)),
    ]
    if field.kind == contract.INT and field.minimum is not None:
        checks.append((typed_value(field) < field.minimum, contract.reason_invalid(field)))
    elif field.kind == contract.ID:
        checks.append((text == "", contract.reason_invalid(field)))
    elif field.kind == contract.ENUM:
        checks.append((~text.isin(*field.choices), contract.reason_invalid(field)))
    elif field.kind == contract.VERSION:
        pattern = f"^{contract.VERSION_RE.pattern}$"
        checks.append((~text.rlike(pattern), contract.reason_invalid(field)))
    elif field.kind == contract.TIMESTAMP:
        no_offset = f"^{contract.TIMESTAMP_NO_OFFSET_RE.pattern}$"
        with_offset = f"^{contract.TIMESTAMP_RE.pattern}$"
        checks.append((text.rlike(no_offset), contract.reason_no_offset(field.name)))
        checks.append(
            (~text.rlike(with_offset) | typed_value(field).isNull(),
             contract.reason_invalid(field))
        )
    return F.coalesce(*[F.when(cond, F.lit(reason)) for cond, reason in checks])


def line_reason(source: Source, deadline: dt.datetime) -> Column:
    """Why a landing line is bad input, or null when it keeps the contract."""
    not_object = F.col("parsed").isNull() | ~F.schema_of_variant("parsed").startswith("OBJECT")
    future = typed_value(source.field(source.event_time)) > F.lit(deadline)
    return F.coalesce(
        F.when(F.col("value").rlike(r"^\s*$"), F.lit(contract.REASON_EMPTY)),
        F.when(not_object, F.lit(contract.REASON_UNPARSEABLE)),
        *[field_reason(f) for f in source.fields],
        F.when(future, F.lit(contract.reason_future(source.event_time))),
    )
