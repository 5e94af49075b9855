"""Files that land in a partition after its date was ingested: reported by the next
ingest (lake table landing_changes, the job's output, the arrival report), and picked up
by re-running that date, after which the report clears."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from grouprebate.landing import (
    CHANGE_ARRIVED,
    CHANGE_CHANGED,
    CHANGE_REMOVED,
    LandedFile,
    landing_changes,
)
from spark_jobs import ingest_landing
from spark_jobs.ingest_landing import ingest
from tests import dbt_fixtures as fx
from tests.conftest import CONFIG_PATH
from tests.job_fixtures import session_settings_kept

D1, D2, D3 = dt.date(2018, 11, 5), dt.date(2018, 11, 6), dt.date(2018, 11, 7)


def order(order_id: str, day: dt.date = D1) -> dict:
    return {"order_id": order_id, "buyer_user_id": "u1", "item_id": "i1", "seller_id": "s1",
            "total_fen": 1000, "created_at": f"{day}T10:00:00+08:00",
            "client_version": "8.10.0"}


def drop(landing: Path, ds: dt.date, name: str, *ids: str, source: str = "orders") -> Path:
    folder = landing / source / f"ds={ds}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(order(i, ds)) + "\n" for i in ids))
    return path


def table(spark, lake: Path, name: str, ds: dt.date) -> list[dict]:
    return sorted((r.asDict() for r in spark.read.parquet(str(lake / name / f"ds={ds}"))
                   .collect()), key=lambda r: json.dumps(r, default=str, sort_keys=True))


def changes(spark, lake: Path, ds: dt.date) -> list[tuple]:
    return [(r["arrival_ds"], r["source"], r["file"], r["change"])
            for r in table(spark, lake, "landing_changes", ds)]


@pytest.fixture
def zone(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "landing", tmp_path / "lake"


def test_ingest_records_the_files_it_read_with_size_and_mtime(spark, zone, config):
    landing, lake = zone
    path = drop(landing, D1, "a.jsonl", "o1")
    ingest(spark, str(landing), str(lake), config, D1)
    stat = path.stat()
    assert table(spark, lake, "ingested_files", D1) == [
        {"source": "orders", "file": "a.jsonl", "size_bytes": stat.st_size,
         "mtime_ns": stat.st_mtime_ns}]
    assert changes(spark, lake, D1) == []


def test_file_landing_after_its_date_was_ingested_is_reported_and_rerun_picks_it_up(
        spark, zone, config):
    landing, lake = zone
    drop(landing, D1, "a.jsonl", "o1")
    ingest(spark, str(landing), str(lake), config, D1)
    drop(landing, D1, "b.jsonl", "o2")  # lands after D1's ingest
    drop(landing, D2, "a.jsonl", "o3", "o4")
    ingest(spark, str(landing), str(lake), config, D2)
    assert changes(spark, lake, D2) == [(D1, "orders", "b.jsonl", CHANGE_ARRIVED)]
    assert {r["order_id"] for r in table(spark, lake, "orders", D1)} == {"o1"}

    ingest(spark, str(landing), str(lake), config, D1)  # the re-run of D1 reads b.jsonl
    assert {r["order_id"] for r in table(spark, lake, "orders", D1)} == {"o1", "o2"}
    ingest(spark, str(landing), str(lake), config, D3)  # the next run: nothing to report
    assert changes(spark, lake, D3) == []


def test_file_landing_in_a_partition_that_was_empty_at_ingest_is_reported(
        spark, zone, config):
    landing, lake = zone
    drop(landing, D1, "a.jsonl", "o1")
    (landing / "orders" / f"ds={D2}").mkdir()  # the day arrived with no orders
    ingest(spark, str(landing), str(lake), config, D1)
    ingest(spark, str(landing), str(lake), config, D2)
    assert table(spark, lake, "ingested_files", D2) == []
    drop(landing, D2, "late.jsonl", "o9", source="payments")
    ingest(spark, str(landing), str(lake), config, D3)
    assert changes(spark, lake, D3) == [(D2, "payments", "late.jsonl", CHANGE_ARRIVED)]


def test_changed_and_removed_files_are_reported_and_printed_by_the_job(
        spark, zone, config, capsys):
    landing, lake = zone
    grown = drop(landing, D1, "a.jsonl", "o1")
    touched = drop(landing, D1, "b.jsonl", "o2")
    gone = drop(landing, D1, "c.jsonl", "o3")
    ingest(spark, str(landing), str(lake), config, D1)
    with grown.open("a") as handle:  # a longer file, whatever its mtime
        handle.write(json.dumps(order("o4")) + "\n")
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    gone.unlink()
    drop(landing, D2, "a.jsonl", "o5", "o6")
    with session_settings_kept(spark):
        assert ingest_landing.main(["--landing", str(landing), "--lake", str(lake),
                                    "--config", str(CONFIG_PATH), "--ds", str(D2)]) == 0
    assert changes(spark, lake, D2) == [
        (D1, "orders", "a.jsonl", CHANGE_CHANGED),
        (D1, "orders", "b.jsonl", CHANGE_CHANGED),
        (D1, "orders", "c.jsonl", CHANGE_REMOVED),
    ]
    out = capsys.readouterr().out
    assert (f"late file    ds={D1} orders/b.jsonl: changed after ingest "
            f"(re-run ds={D1} to read it)") in out
    assert f"late file    ds={D1} orders/c.jsonl: removed after ingest" in out


def test_landing_changes_compares_size_and_mtime_of_each_file():
    before = [LandedFile("orders", "a.jsonl", 10, 1), LandedFile("orders", "b.jsonl", 10, 1),
              LandedFile("orders", "c.jsonl", 10, 1), LandedFile("orders", "d.jsonl", 10, 1)]
    now = [LandedFile("orders", "a.jsonl", 10, 1), LandedFile("orders", "b.jsonl", 11, 1),
           LandedFile("orders", "c.jsonl", 10, 2), LandedFile("users", "a.jsonl", 10, 1)]
    assert landing_changes(before, now) == [
        ("orders", "b.jsonl", CHANGE_CHANGED),
        ("orders", "c.jsonl", CHANGE_CHANGED),
        ("orders", "d.jsonl", CHANGE_REMOVED),
        ("users", "a.jsonl", CHANGE_ARRIVED),
    ]


# ------------------------------------------------------------------ the arrival report (dbt)

REPORT = ("select as_of_ds, exception_kind, landing_source, arrival_ds, row_count, file_names "
          "from marts.arrival_exceptions_report where exception_kind not in "
          "('orphan', 'late arrival') order by all")


def test_strays_and_files_changed_after_ingest_are_in_the_arrival_report(
        tmp_path_factory, config):
    """Strays of a landing date stay listed; a file change is listed by the run date whose
    ingest found it and gone once a later ingest finds the date re-run."""
    harness = fx.DbtHarness(tmp_path_factory.mktemp("dbt-late-files"), config)
    day, found, after_rerun = fx.d("11-12"), fx.d("11-14"), fx.d("11-15")
    fx.write_table(harness.lake, "stray_files", day, [
        {"path": f"/l/claims/ds={day}/{name}", "reason": "not a <name>.jsonl[.gz] file",
         "source": "claims", "file": name} for name in ("x.csv", "notes.txt")
    ] + [{"path": f"/l/coupons/ds={day}", "reason": "source coupons is not in the contract",
          "source": "coupons", "file": f"ds={day}"}])
    fx.write_table(harness.lake, "landing_changes", found, [
        {"arrival_ds": day, "source": "claims", "file": "late.jsonl",
         "change": CHANGE_ARRIVED},
        {"arrival_ds": fx.d("11-13"), "source": "draws", "file": "a.jsonl",
         "change": CHANGE_CHANGED},
    ])
    strays = [
        (day, "stray file", "claims", day, 2, "notes.txt, x.csv"),
        (day, "stray file", "coupons", day, 1, f"ds={day}"),
    ]
    report = [tuple(r.values()) for r in fx.query(harness.build(found), REPORT)]
    assert report == [
        *strays,
        (found, CHANGE_ARRIVED, "claims", day, 1, "late.jsonl"),
        (found, CHANGE_CHANGED, "draws", fx.d("11-13"), 1, "a.jsonl"),
    ]
    rows_kept = fx.query(harness.build(found), "select exception_kind, row_count, file_names "
                         "from marts.arrival_exceptions_report where exception_kind = 'orphan'")
    assert rows_kept and all(r["file_names"] is None for r in rows_kept)
    assert [tuple(r.values()) for r in fx.query(harness.build(after_rerun), REPORT)] == strays


def test_fixture_lake_tables_have_the_columns_ingest_writes():
    """The dbt tests read hand-built stray_files and landing_changes: same columns as ingest's."""
    for table, schema in (("stray_files", ingest_landing.STRAY_SCHEMA),
                          ("landing_changes", ingest_landing.LANDING_CHANGES_SCHEMA),
                          ("quarantine", ingest_landing.QUARANTINE_SCHEMA)):
        assert [name for name, _ in fx.SCHEMAS[table]] == schema.fieldNames(), table
