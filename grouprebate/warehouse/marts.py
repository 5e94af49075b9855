"""Reads of the built marts, for the files that leave the pipeline and the run's summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Query = Callable[[str, Sequence[Any]], list[tuple]]


def duckdb_query(warehouse: Path) -> Query:
    """Queries on the DuckDB warehouse file, one connection each."""
    import duckdb

    def query(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with duckdb.connect(str(warehouse)) as con:
            return con.execute(sql, list(params)).fetchall()

    return query
