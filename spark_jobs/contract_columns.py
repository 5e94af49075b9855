"""The input contract (grouprebate.contract) as Spark expressions.

Lines are parsed as VARIANT so a JSON integer, a string and a decimal stay
distinguishable, exactly as the plain-Python check sees them; the quarantine
reasons are the contract's own texts.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
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
    return F.col(f"_raw_{field.name}")


def _text(field: Field) -> Column:
    return F.col(f"_text_{field.name}")


def typed_value(field: Field) -> Column:
    """The field's typed value (valid rows only: checks come from field_reason)."""
    return F.col(f"_typed_{field.name}")


def with_field_values(checked: DataFrame, source: Source) -> DataFrame:
    """`checked` with each field's JSON value, text and typed value as columns of their own.

    The checks and the typed fields read these many times; as columns they are
    extracted from the parsed line once, where expressions repeated across the
    branches of the reason's coalesce would each extract them again.
    """
    extracted = checked.select(
        "*",
        *[F.expr(f"variant_get(parsed, '$.{f.name}')").alias(f"_raw_{f.name}")
          for f in source.fields],
        *[F.expr(f"try_variant_get(parsed, '$.{f.name}', 'string')").alias(f"_text_{f.name}")
          for f in source.fields],
    )

    def typed(field: Field) -> Column:
        if field.kind == contract.INT:
            return F.expr(f"try_variant_get(parsed, '$.{field.name}', 'bigint')")
        if field.kind == contract.TIMESTAMP:
            return F.try_to_timestamp(_text(field))
        return _text(field)

    return extracted.select("*", *[typed(f).alias(f"_typed_{f.name}") for f in source.fields])


def field_reason(field: Field) -> Column:
    """Why this field breaks the contract, or null: the contract's checks, in its order."""
    raw = _raw(field)
    expected = "BIGINT" if field.kind == contract.INT else "STRING"
    text = _text(field)
    fails = {
        contract.MISSING: lambda: raw.isNull() | F.is_variant_null(raw),
        contract.MISTYPED: lambda: F.schema_of_variant(raw) != F.lit(expected),
        contract.BELOW_MINIMUM: lambda: typed_value(field) < field.minimum,
        contract.EMPTY: lambda: text == "",
        contract.NOT_A_CHOICE: lambda: ~text.isin(*field.choices),
        contract.NOT_A_VERSION: lambda: ~text.rlike(f"^{contract.VERSION_RE.pattern}$"),
        contract.NO_OFFSET: lambda: text.rlike(f"^{contract.TIMESTAMP_NO_OFFSET_RE.pattern}$"),
        contract.NOT_A_TIMESTAMP: lambda: (~text.rlike(f"^{contract.TIMESTAMP_RE.pattern}$")
                                           | typed_value(field).isNull()),
    }
    return F.coalesce(*[F.when(fails[check](), F.lit(reason))
                        for check, reason in contract.field_checks(field)])


def lines_checked(lines: DataFrame, max_line_bytes: int) -> DataFrame:
    """Lines as the contract reads them: too long (and cut) or not UTF-8 flagged, a first line's
    byte-order mark dropped, blank lines skipped, and the rest parsed as `parsed`.

    Spark's JSON parser stops at the end of the first value and ignores what follows;
    parsing `[line,"<sha256 of line>"]` instead proves the line held exactly one value,
    since no line can contain its own hash.
    """
    too_long = F.octet_length("value") > max_line_bytes
    # A too-long line keeps its first max_line_bytes + 1 bytes, as landing.split_lines does.
    raw = F.when(too_long, F.substring(F.col("value").cast("binary"), 1, max_line_bytes + 1)
                 .cast("string")).otherwise(F.col("value"))
    utf8 = F.is_valid_utf8(raw)
    bom = (F.col("line") == 1) & raw.startswith(contract.BOM.decode())
    text = F.when(utf8 & bom, raw.substr(F.lit(2), F.octet_length(raw))).when(utf8, raw).otherwise(
        F.make_valid_utf8(raw))
    blank = utf8 & ~too_long & text.rlike(f"^[{contract.BLANK}]*$")
    proof = F.sha2(text, 256)
    wrapped = F.when(utf8 & ~too_long, F.try_parse_json(
        F.concat(F.lit("["), text, F.lit(',"'), proof, F.lit('"]'))))
    one_value = (F.expr("try_variant_get(wrapped, '$[1]', 'string')") == proof) & F.expr(
        "variant_get(wrapped, '$[2]') is null")
    return (
        lines.select("*", too_long.alias("too_long"), utf8.alias("utf8"))
        .where(~blank)
        .withColumn("value", text)
        .withColumn("wrapped", wrapped)
        .withColumn("parsed", F.when(one_value, F.expr("variant_get(wrapped, '$[0]')")))
        .drop("wrapped")
    )


def _is_object() -> Column:
    return F.col("parsed").isNotNull() & F.schema_of_variant("parsed").startswith("OBJECT")


def extra_fields(source: Source) -> Column:
    """Whether the line is an object with fields beyond the contract's (ignored, counted)."""
    names = F.array(*[F.lit(n) for n in source.field_names])
    keys = F.map_keys(F.expr("try_variant_get(parsed, '$', 'map<string,variant>')"))
    return F.coalesce(F.size(F.array_except(keys, names)) > 0, F.lit(False))


def line_reason(source: Source, deadline: dt.datetime) -> Column:
    """Why a landing line is bad input, or null when it keeps the contract."""
    future = typed_value(source.field(source.event_time)) > F.lit(deadline)
    return F.coalesce(
        F.when(F.col("too_long"), F.lit(contract.REASON_TOO_LONG)),
        F.when(~F.col("utf8"), F.lit(contract.REASON_NOT_UTF8)),
        F.when(~_is_object(), F.lit(contract.REASON_UNPARSEABLE)),
        *[field_reason(f) for f in source.fields],
        F.when(future, F.lit(contract.reason_future(source.event_time))),
    )
