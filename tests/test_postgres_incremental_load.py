"""The Postgres loader copies only what changed in the lake since its last load.

A nightly load copies the new date's partitions, a re-run of a date reloads exactly the
partitions that date rewrote, and a partition gone from the lake leaves the warehouse.
Skipped, saying why, when no PostgreSQL server answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grouprebate.warehouse import postgres_load
from tests import dbt_fixtures as fx
from tests.postgres_schemas import own_schemas

psycopg2 = pytest.importorskip("psycopg2")
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_prefix() -> Iterator[str]:
    """A schema prefix of this test's own, its schemas dropped afterwards."""
    with own_schemas("inc") as (_, prefix):
        yield prefix


def rows_by_ds(prefix: str, table: str) -> dict[str, int]:
    conn = psycopg2.connect(**postgres_load.pg_connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute(f'select ds::text, count(*) from "{prefix}lake".{table} group by ds')
            return dict(cur.fetchall())
    finally:
        conn.close()


def changed(load: postgres_load.LakeLoad) -> dict[str, list[str]]:
    """The tables a load touched, with the partitions it loaded (+) and removed (-)."""
    out = {}
    for table in load.loaded:
        dates = [f"+{d}" for d in load.loaded[table]] + [f"-{d}" for d in load.removed[table]]
        if dates:
            out[table] = dates
    return out


def rewrite(partition: Path) -> None:
    """Rewrite a partition's file with the same rows, as a re-run of its date does."""
    import pyarrow.parquet as pq

    for path in partition.glob("*.parquet"):
        table = pq.read_table(path)
        path.unlink()
        pq.write_table(table, path)


def test_loads_only_new_and_changed_partitions_and_removes_deleted_ones(
        tmp_path, config, pg_prefix):
    lake = fx.build_fixture_lake(tmp_path / "lake", fx.fixture_config(config))
    partitions = {t.pg_table: sorted(postgres_load.partition_digests(lake, t))
                  for t in postgres_load.lake_tables()}

    first = postgres_load.load_lake_into_postgres(lake, schema_prefix=pg_prefix)
    assert first.loaded == partitions
    assert first.rows["claims"] == len(fx.CLAIMS)

    again = postgres_load.load_lake_into_postgres(lake, schema_prefix=pg_prefix)
    assert changed(again) == {}
    assert again.rows == first.rows

    claims_day = fx.DAYS[2]
    rewrite(lake / "claims" / f"ds={claims_day}")
    touched = postgres_load.load_lake_into_postgres(lake, schema_prefix=pg_prefix)
    assert changed(touched) == {"claims": [f"+{claims_day}"]}
    assert touched.rows == first.rows
    assert sum(rows_by_ds(pg_prefix, "claims").values()) == len(fx.CLAIMS)

    dropped = rows_by_ds(pg_prefix, "claims")[str(claims_day)]
    assert dropped > 0
    for path in (lake / "claims" / f"ds={claims_day}").iterdir():
        path.unlink()
    (lake / "claims" / f"ds={claims_day}").rmdir()
    removed = postgres_load.load_lake_into_postgres(lake, schema_prefix=pg_prefix)
    assert changed(removed) == {"claims": [f"-{claims_day}"]}
    assert str(claims_day) not in rows_by_ds(pg_prefix, "claims")
    assert removed.rows["claims"] == len(fx.CLAIMS) - dropped


def test_a_new_run_date_loads_exactly_its_own_partitions(tmp_path, config, pg_prefix):
    """The nightly case: yesterday's lake is loaded, today's jobs add one date."""
    rules = fx.fixture_config(config)
    lake = fx.build_fixture_lake(tmp_path / "lake", rules, days=fx.DAYS[:-1])
    postgres_load.load_lake_into_postgres(lake, schema_prefix=pg_prefix)
    fx.build_fixture_lake(lake, rules, days=fx.DAYS[-1:])
    nightly = postgres_load.load_lake_into_postgres(lake, schema_prefix=pg_prefix)
    written = {t.pg_table for t in postgres_load.lake_tables()
               if (lake / t.path / f"ds={fx.DAYS[-1]}").is_dir()}
    assert set(changed(nightly)) == written
    assert all(dates == [f"+{fx.DAYS[-1]}"] for dates in changed(nightly).values())
