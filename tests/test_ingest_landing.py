"""Ingest: contract checks, quarantine reasons, dedup by first arrival, bad-row counts, re-runs."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from grouprebate import contract
from spark_jobs import ingest_landing
from spark_jobs.ingest_landing import ingest
from tests.job_fixtures import session_settings_kept

DS = dt.date(2018, 11, 5)
NEXT = dt.date(2018, 11, 6)


def order(order_id: str, total: int = 1000, at: str = "2018-11-05T10:00:00+08:00") -> dict:
    return {"order_id": order_id, "buyer_user_id": "u1", "item_id": "i1", "seller_id": "s1",
            "total_fen": total, "created_at": at, "client_version": "8.10.0"}


def write(landing: Path, source: str, ds: dt.date, lines: list, name: str = "a.jsonl") -> None:
    folder = landing / source / f"ds={ds}"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    if name.endswith(".gz"):
        with gzip.open(folder / name, "wt") as handle:
            handle.write(text)
    else:
        (folder / name).write_text(text)


def rows(spark, path: Path) -> list[dict]:
    return sorted((r.asDict() for r in spark.read.parquet(str(path)).collect()),
                  key=lambda r: json.dumps(r, default=str, sort_keys=True))


@pytest.fixture
def relaxed(config):
    """The 2018 config with a threshold loose enough for hand-made bad lines."""
    return config.__class__(**{**config.__dict__, "max_bad_row_rate": 0.99})


def test_each_kind_of_bad_line_is_quarantined_with_its_reason(spark, tmp_path, relaxed):
    """A blank line is no row but keeps its place in the numbering."""
    bad = [
        "not json at all",
        "[1, 2]",
        "",
        {k: v for k, v in order("o2").items() if k != "seller_id"},
        {**order("o3"), "total_fen": "1999"},
        {**order("o4"), "order_id": 4},
        {**order("o5"), "total_fen": 0},
        {**order("o6"), "total_fen": 12.5},
        {**order("o7"), "created_at": "2018-11-05T10:00:00"},
        {**order("o8"), "created_at": "2018-11-07T02:00:00+08:00"},
        {**order("o9"), "client_version": "8.x"},
        {**order("o10"), "order_id": ""},
        {**order("o11"), "created_at": "2018-02-30T10:00:00+08:00"},
        {**order("o12"), "buyer_user_id": None},
    ]
    write(tmp_path / "landing", "orders", DS, [order("o1"), *bad])
    counts = ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), relaxed, DS)
    got = {r["line"]: r["reason"] for r in rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}")}
    source = contract.SOURCES["orders"]
    assert got == {
        2: contract.REASON_UNPARSEABLE,
        3: contract.REASON_UNPARSEABLE,
        5: "missing field seller_id",
        6: contract.reason_mistyped(source.field("total_fen")),
        7: contract.reason_mistyped(source.field("order_id")),
        8: contract.reason_invalid(source.field("total_fen")),
        9: contract.reason_mistyped(source.field("total_fen")),
        10: contract.reason_no_offset("created_at"),
        11: contract.reason_future("created_at"),
        12: contract.reason_invalid(source.field("client_version")),
        13: contract.reason_invalid(source.field("order_id")),
        14: contract.reason_invalid(source.field("created_at")),
        15: "missing field buyer_user_id",
    }
    assert counts[0].rows == 14 and counts[0].bad == 13 and counts[0].ingested == 1


def test_spark_and_python_contract_checks_agree_line_by_line(spark, tmp_path, relaxed):
    lines = [json.dumps(order("ok")), '{"order_id": 1}', "{oops", json.dumps(
        {**order("late"), "created_at": "2018-11-06T00:59:59+08:00"}), json.dumps(
        {**order("too-late"), "created_at": "2018-11-06T01:00:01+08:00"}), json.dumps(
        {**order("z"), "created_at": "2018-11-05T02:00:00.25Z"})]
    write(tmp_path / "landing", "orders", DS, lines)
    ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), relaxed, DS)
    spark_reasons = {r["line"]: r["reason"]
                     for r in rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}")}
    source = contract.SOURCES["orders"]
    python_reasons = {
        i: reason for i, line in enumerate(lines, 1)
        if (reason := contract.check_text(source, line, DS, relaxed.tz).reason)
    }
    assert spark_reasons == python_reasons
    assert set(python_reasons) == {2, 3, 5}


SHORTEST_VALUES = {contract.ID: "x", contract.TEXT: "", contract.VERSION: "8",
                   contract.TIMESTAMP: f"{DS}T00:00:00Z"}


@pytest.mark.parametrize("source", contract.SOURCES.values(), ids=lambda s: s.name)
def test_no_line_the_contract_accepts_is_shorter_than_its_sources_shortest_line(
        source, relaxed):
    """The dedup plans a day by its bytes over shortest_line_bytes (a bound on its rows):
    the shortest record is accepted at exactly that length, and each of its strings one
    character shorter is not."""
    def value(field):
        if field.kind == contract.INT:
            return field.minimum or 0
        if field.kind == contract.ENUM:
            return min(field.choices, key=len)
        return SHORTEST_VALUES[field.kind]

    def check(record):
        return contract.check_text(source, json.dumps(record, separators=(",", ":")), DS,
                                   relaxed.tz)

    shortest = {f.name: value(f) for f in source.fields}
    assert check(shortest).reason is None
    assert len(json.dumps(shortest, separators=(",", ":"))) == source.shortest_line_bytes
    for name, text in shortest.items():
        if isinstance(text, str) and text:
            assert check({**shortest, name: text[:-1]}).reason, name


@pytest.fixture(scope="module")
def first_day(spark, tmp_path_factory, config) -> tuple[Path, list]:
    """The orders of DS (o1, 200 fillers, o1 again at the same instant written with another
    offset, then o1 with another total) ingested once: (the root of its landing and lake,
    the counts). Tests only read it, or run later days on a copy."""
    root = tmp_path_factory.mktemp("first_day")
    first = order("o1", total=1000)
    fillers = [order(f"f{i}") for i in range(200)]
    same_instant_other_offset = {**first, "created_at": "2018-11-05T02:00:00Z"}
    write(root / "landing", "orders", DS, [first, *fillers, same_instant_other_offset,
                                          {**first, "total_fen": 999}])
    return root, ingest(spark, str(root / "landing"), str(root / "lake"), config, DS)


def test_exact_duplicate_is_dropped_and_conflict_is_quarantined(spark, first_day):
    root, counts = first_day
    lake = rows(spark, root / "lake/orders" / f"ds={DS}")
    assert [r["total_fen"] for r in lake if r["order_id"] == "o1"] == [1000]
    quarantined = rows(spark, root / "lake/quarantine" / f"ds={DS}")
    assert [(q["line"], q["reason"]) for q in quarantined] == [
        (203, contract.reason_conflict(("order_id",)))
    ]
    assert (counts[0].duplicates, counts[0].bad, counts[0].ingested) == (1, 1, 201)


def test_first_arrival_wins_across_days(spark, tmp_path, config, first_day):
    shutil.copytree(first_day[0], tmp_path / "run")
    landing, lake = tmp_path / "run/landing", tmp_path / "run/lake"
    write(landing, "orders", NEXT, [order("o1", total=1000), order("o1", total=5),
                                    *[order(f"g{i}") for i in range(200)]])
    counts = ingest(spark, str(landing), str(lake), config, NEXT)
    assert (counts[0].duplicates, counts[0].bad, counts[0].ingested) == (1, 1, 200)
    assert not [r for r in rows(spark, lake / "orders" / f"ds={NEXT}") if r["order_id"] == "o1"]


@pytest.mark.parametrize("broadcast_repeats", [None, 5, 0],
                         ids=["small-day", "few-repeats", "many-repeats"])
def test_a_key_delivered_again_by_a_late_file_keeps_its_earliest_arrival(
        spark, tmp_path, config, monkeypatch, broadcast_repeats):
    """o9 arrives on NEXT (total 7); a late file of DS brings o9 with total 8 and DS is
    re-run, so the lake holds o9 in both partitions. A later date compares with DS's row,
    the earliest, however the partitions are read: NEXT's file is the larger one, which
    Spark reads first. The same on a day too small to hold BROADCAST_REPEATS rows (one
    query), on a larger day whose repeated keys are counted and broadcast, and past
    BROADCAST_REPEATS (a whole day delivered again), where they are joined by a shuffle."""
    if broadcast_repeats is not None:
        monkeypatch.setattr(ingest_landing, "BROADCAST_REPEATS", broadcast_repeats)
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    later = NEXT + dt.timedelta(days=1)
    write(landing, "orders", DS, [order("f0")])
    ingest(spark, str(landing), str(lake), config, DS)
    write(landing, "orders", NEXT, [order("o9", total=7), *[order(f"n{i}") for i in range(300)]])
    ingest(spark, str(landing), str(lake), config, NEXT)
    write(landing, "orders", DS, [order("o9", total=8)], name="late.jsonl")
    ingest(spark, str(landing), str(lake), config, DS)
    assert sorted((r["ds"], r["total_fen"]) for r in rows(spark, lake / "orders")
                  if r["order_id"] == "o9") == [(DS, 8), (NEXT, 7)]
    write(landing, "orders", later, [order("o9", total=8), order("o9", total=7),
                                     *[order(f"l{i}") for i in range(200)]])
    counts = ingest(spark, str(landing), str(lake), config, later)
    assert (counts[0].duplicates, counts[0].bad) == (1, 1)
    quarantined = rows(spark, lake / "quarantine" / f"ds={later}")
    assert [(q["line"], q["reason"]) for q in quarantined] == [
        (2, contract.reason_conflict(("order_id",)))
    ]


def test_gzip_files_are_read_with_their_line_numbers(spark, tmp_path, relaxed):
    write(tmp_path / "landing", "orders", DS, [order("o1"), "broken"], name="b.jsonl.gz")
    write(tmp_path / "landing", "orders", DS, [order("o2"), order("o3"), "broken"])
    ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), relaxed, DS)
    quarantined = rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}")
    assert sorted((q["file"], q["line"]) for q in quarantined) == [("a.jsonl", 3),
                                                                    ("b.jsonl.gz", 2)]
    lake = rows(spark, tmp_path / "lake/orders" / f"ds={DS}")
    assert sorted(r["order_id"] for r in lake) == ["o1", "o2", "o3"]


def test_whole_file_and_line_by_line_reads_cut_the_same_lines(spark, tmp_path):
    """Small files are cut into lines by the job, large ones by Hadoop's line reader:
    both must agree on every line end (LF, CR LF, lone CR), blank lines, a missing or
    doubled final line end, an empty file and gzip, and keep bytes that are not UTF-8."""
    folder = tmp_path / "orders"
    folder.mkdir()
    texts = {
        "lf.jsonl": "a\nb\n", "crlf.jsonl": "a\r\nb\r\n", "cr.jsonl": "a\rb\r",
        "blank.jsonl": "\na\n\n\nb\n", "no-final.jsonl": "a\nb", "doubled.jsonl": "a\n\n",
        "only-end.jsonl": "\n", "empty.jsonl": "", "mixed.jsonl": "a\r\n\rb\n\r\n",
    }
    for name, text in texts.items():
        (folder / name).write_bytes(text.encode())
    (folder / "latin1.jsonl").write_bytes(b"\xe9t\xe9\r\n\xc3\n\xef\xbb\xbf\xe5\xb0\x8f\n")
    with gzip.open(folder / "z.jsonl.gz", "wt", newline="") as handle:
        handle.write("a\r\n\nb")
    paths = sorted(str(p) for p in folder.iterdir())

    def by_line(spark, paths):
        return ingest_landing.numbered_lines(spark, paths, max_line_bytes=2**20)

    def lines(reader):
        return sorted(tuple(r) for r in reader(spark, paths).select("file", "line", "value")
                      .collect())

    whole = lines(ingest_landing.whole_file_lines)
    assert whole == lines(by_line)
    assert [(line, value) for file, line, value in whole if file == "blank.jsonl"] == [
        (1, ""), (2, "a"), (3, ""), (4, ""), (5, "b")]
    assert not [row for row in whole if row[0] == "empty.jsonl"]

    def raw_bytes(reader):
        return [bytes(r[0]) for r in reader(spark, [str(folder / "latin1.jsonl")])
                .orderBy("line").select(F.col("value").cast("binary")).collect()]

    assert raw_bytes(ingest_landing.whole_file_lines) == raw_bytes(
        by_line) == [b"\xe9t\xe9", b"\xc3", b"\xef\xbb\xbf\xe5\xb0\x8f"]


@pytest.mark.parametrize("read_whole", ["all", "none", "b.jsonl"])
def test_line_numbers_hold_when_spark_packs_small_files_and_splits_large_ones(
        spark, tmp_path, relaxed, monkeypatch, read_whole):
    """Tiny split sizes make Spark split a.jsonl over several tasks and pack b.jsonl with
    a piece of it; every row must still carry its own line number in its own file,
    whether the files are read whole, line by line, or the small one whole only."""
    landing = tmp_path / "landing"
    write(landing, "orders", DS, [*[order(f"a{i}") for i in range(1, 31)], "broken"])
    write(landing, "orders", DS, ["broken", order("b2"), order("b3")], name="b.jsonl")
    limits = {"none": 0, "b.jsonl": (landing / "orders" / f"ds={DS}" / "b.jsonl").stat().st_size}
    if read_whole in limits:
        monkeypatch.setattr(ingest_landing, "WHOLE_FILE_MAX_BYTES", limits[read_whole])
    spark.conf.set("spark.sql.files.maxPartitionBytes", "700")
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    try:
        ingest(spark, str(landing), str(tmp_path / "lake"), relaxed, DS)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    lake = rows(spark, tmp_path / "lake/orders" / f"ds={DS}")
    assert sorted((r["file"], r["line"], r["order_id"]) for r in lake) == sorted(
        [("a.jsonl", i, f"a{i}") for i in range(1, 31)]
        + [("b.jsonl", 2, "b2"), ("b.jsonl", 3, "b3")])
    quarantined = rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}")
    assert sorted((q["file"], q["line"]) for q in quarantined) == [("a.jsonl", 31),
                                                                    ("b.jsonl", 1)]


def test_bad_row_rate_above_threshold_is_reported_for_the_landing_gate(
        spark, tmp_path, config):
    """The job counts and writes the day; the landing gate (expectations/landing.py) reads
    the report's bad_rate and decides whether the day passes."""
    write(tmp_path / "landing", "orders", DS,
          [*[order(f"o{i}") for i in range(98)], "bad", "worse"])
    counts = ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), config, DS)
    assert (counts[0].rows, counts[0].bad, counts[0].ingested) == (100, 2, 98)
    report = rows(spark, tmp_path / "lake/ingest_report" / f"ds={DS}")
    assert [(r["source"], r["bad_rate"], r["passed"]) for r in report] == [
        ("orders", pytest.approx(0.02), False)]
    assert len(rows(spark, tmp_path / "lake/orders" / f"ds={DS}")) == 98
    assert len(rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}")) == 2


def test_bad_row_rate_at_threshold_passes(spark, tmp_path, config):
    write(tmp_path / "landing", "orders", DS, [*[order(f"o{i}") for i in range(99)], "bad"])
    counts = ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), config, DS)
    assert counts[0].bad_rate == pytest.approx(0.01)


def test_rerunning_a_day_gives_identical_lake_and_quarantine(spark, tmp_path, relaxed):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write(landing, "orders", DS, [order("o1"), order("o2"), "junk", order("o1")])
    write(landing, "payments", DS, [{"payment_id": "p1", "order_id": "o1", "stage": 1,
                                     "amount_fen": 1000, "paid_at": "2018-11-05T10:00:00Z"}])
    ingest(spark, str(landing), str(lake), relaxed, DS)
    before = {t: rows(spark, lake / t / f"ds={DS}") for t in ("orders", "payments",
                                                              "quarantine", "ingest_report")}
    ingest(spark, str(landing), str(lake), relaxed, DS)
    after = {t: rows(spark, lake / t / f"ds={DS}") for t in before}
    assert before == after


def test_job_command_line_reports_counts_and_a_bad_config_in_one_line(spark, tmp_path,
                                                                      capsys):
    from spark_jobs.ingest_landing import main
    from tests.conftest import CONFIG_PATH

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write(landing, "orders", DS, [order(f"o{i}") for i in range(5)])
    args = ["--landing", str(landing), "--lake", str(lake), "--config", str(CONFIG_PATH),
            "--ds", str(DS)]
    with session_settings_kept(spark):
        assert main(args) == 0
        assert "orders       rows=5 ingested=5" in capsys.readouterr().out
        write(landing, "orders", NEXT, ["junk"])
        assert main([*args[:-1], str(NEXT)]) == 0
        out = capsys.readouterr().out
        assert "orders       rows=1 ingested=0 duplicates=0 bad=1 (100.00%)" in out
        assert main([*args[:5], str(tmp_path / "missing.yaml"), *args[6:]]) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and error.count("\n") == 1
