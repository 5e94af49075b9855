"""Tiny hand-built lake tables for rule tests: rows as dicts, timestamps as text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import types as T

from grouprebate.contract import ID, SOURCES, TIMESTAMP, parse_timestamp
from spark_jobs.contract_columns import record_schema
from spark_jobs.lake import overwrite_partition

DEFAULT_DS = dt.date(2018, 11, 1)


def ts(text: str) -> dt.datetime:
    """A contract timestamp; a bare 'MM-DD HH:MM[:SS]' means 2018 Beijing time."""
    if "T" not in text:
        day, clock = text.split(" ")
        seconds = "" if clock.count(":") == 2 else ":00"
        text = f"2018-{day}T{clock}{seconds}+08:00"
    parsed = parse_timestamp(text)
    assert parsed is not None, text
    return parsed


def typed_row(source: str, row: dict[str, Any]) -> tuple:
    values = []
    for field in SOURCES[source].fields:
        value = row[field.name]
        values.append(ts(value) if field.kind == TIMESTAMP else value)
    return (*values, row.get("ds", DEFAULT_DS))


def lake_tables(spark, **rows: list[dict[str, Any]]) -> dict:
    """Every source as a DataFrame with a ds column; sources not given are empty."""
    tables = {}
    for name, source in SOURCES.items():
        schema = T.StructType([*record_schema(source).fields, T.StructField("ds", T.DateType())])
        data = [typed_row(name, r) for r in rows.get(name, [])]
        tables[name] = spark.createDataFrame(data, schema)
    return tables


def write_lake(spark, lake: str, **rows: list[dict[str, Any]]) -> None:
    """Write hand-built rows into lake partitions by their ds, as the ingest job would."""
    for name, frame in lake_tables(spark, **rows).items():
        for ds in sorted({r.get("ds", DEFAULT_DS) for r in rows.get(name, [])}):
            part = frame.where(frame.ds == ds).drop("ds")
            overwrite_partition(part, lake, name, ds)


def batched(batch: list[dict[str, list[dict]]]) -> dict[str, list[dict]]:
    """Several campaigns as one: every id of campaign n prefixed with "c<n>.".

    The prefix keeps each campaign's id order and ties and no id of one campaign meets
    another's, so one Spark run computes each campaign as if it ran alone.
    """
    merged: dict[str, list[dict]] = {}
    for n, rows in enumerate(batch):
        for name, table in rows.items():
            ids = {f.name for f in SOURCES[name].fields if f.kind == ID}
            merged.setdefault(name, []).extend(
                {k: f"c{n}.{v}" if k in ids else v for k, v in r.items()} for r in table)
    return merged


def unbatched(row: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A result row of batched campaigns: its campaign's number, and the row without prefixes.

    A result's id columns are those named *_id; every id of a row must carry the same
    campaign's prefix, so a row that mixes campaigns fails here instead of passing unseen.
    """
    ids = {k: v for k, v in row.items() if k.endswith("_id") and v is not None}
    numbers = {v.partition(".")[0] for v in ids.values()}
    assert len(numbers) == 1, row
    number = numbers.pop()
    assert number[:1] == "c" and number[1:].isdigit(), row
    return int(number[1:]), {k: v.partition(".")[2] if k in ids else v for k, v in row.items()}


def join(event_id: str, group: str, user: str, at: str, **extra) -> dict:
    return {"event_id": event_id, "group_id": group, "user_id": user, "action": "join",
            "event_time": at, **extra}


def leave(event_id: str, group: str, user: str, at: str, **extra) -> dict:
    return {**join(event_id, group, user, at, **extra), "action": "leave"}


def user(user_id: str, gender: str = "F", naughty: int = 700, since: str = "10-01 00:00",
         **extra) -> dict:
    return {"user_id": user_id, "gender": gender, "naughty_value": naughty,
            "valid_from": since, **extra}


def group(group_id: str, creator: str, at: str = "10-25 10:00", **extra) -> dict:
    return {"group_id": group_id, "creator_user_id": creator, "name": f"name {group_id}",
            "created_at": at, **extra}


def share(share_id: str, group_id: str, sharer: str, item: str, at: str,
          version: str = "8.1.0", **extra) -> dict:
    return {"share_id": share_id, "group_id": group_id, "sharer_user_id": sharer,
            "item_id": item, "shared_at": at, "client_version": version, **extra}


def order(order_id: str, buyer: str, item: str, total: int = 1000, at: str = "11-05 10:00",
          version: str = "8.1.0", **extra) -> dict:
    return {"order_id": order_id, "buyer_user_id": buyer, "item_id": item, "seller_id": "s",
            "total_fen": total, "created_at": at, "client_version": version, **extra}


def payment(payment_id: str, order_id: str, amount: int, at: str, stage: int = 1,
            **extra) -> dict:
    return {"payment_id": payment_id, "order_id": order_id, "stage": stage,
            "amount_fen": amount, "paid_at": at, **extra}


def refund(refund_id: str, order_id: str, amount: int, at: str, **extra) -> dict:
    return {"refund_id": refund_id, "order_id": order_id, "amount_fen": amount,
            "refunded_at": at, **extra}
