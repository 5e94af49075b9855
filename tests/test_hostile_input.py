"""Hostile and broken landing input (docs/rules.md §3, "Files and lines at the edges"):
every case is a quarantined row with its reason, a skipped blank line, or a failed day
naming the file; `grouprebate validate` and the Spark ingest agree on each."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from grouprebate import contract
from grouprebate.cli import main as cli_main
from grouprebate.landing import (
    FileCheck,
    LandingFileError,
    check_lines,
    read_chunks,
    stray_files,
    validate_landing,
)
from grouprebate.publish.payouts import stage_payouts
from spark_jobs import ingest_landing
from spark_jobs.ingest_landing import ingest
from tests.payout_marts import fake_marts

DS = dt.date(2018, 11, 5)
ORDERS = contract.SOURCES["orders"]
MAX_LINE = 4096

# Ids a hostile or careless upstream may send; each must reach the lake unchanged.
HOSTILE_IDS = ['q"uote', "com,ma", "tab\there", "new\nline", "cr\rreturn",
               "'; DROP TABLE orders; --", "$(rm -rf /) `id` | & ; > <", "back\\slash",
               " padded ", "ünïcødé 小黑群 🎉", "\u0000nul", "\u2028sep"]


def order(order_id: str, **changes) -> dict:
    return {"order_id": order_id, "buyer_user_id": "u1", "item_id": "i1", "seller_id": "s1",
            "total_fen": 1000, "created_at": "2018-11-05T10:00:00+08:00",
            "client_version": "8.10.0", **changes}


def line(obj: dict, ensure_ascii: bool = False) -> bytes:
    return json.dumps(obj, ensure_ascii=ensure_ascii).encode()


def nested(depth: int) -> bytes:
    """An order whose extra field is nested `depth` levels deep counting the order itself."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return line(order(f"deep{depth}"))[:-1] + b', "x": ' + inner + b"}"


def nested_objects(depth: int) -> bytes:
    """An order whose extra field holds objects nested `depth` levels deep counting the order."""
    inner = b'{"x": ' * (depth - 1) + b"0" + b"}" * (depth - 1)
    return line(order(f"deep-objects{depth}"))[:-1] + b', "x": ' + inner + b"}"


# file name -> its bytes; line numbers below count every physical line, blank or not.
FILES = {
    "a.jsonl": b"\xef\xbb\xbf" + line(order("bom")) + b"\r\n" + b"\r\n".join([
        line(order("crlf")),                                         # 2
        b"",                                                         # 3 blank: skipped
        b" \t ",                                                     # 4 blank: skipped
        line(order("bad-utf8"))[:-2] + b'\xff"}',                    # 5 not UTF-8
        b'{"order_id": "x\xc3"}',                                    # 6 truncated sequence
        line(order("long", name="x" * MAX_LINE)),                    # 7 too long
        nested(contract.MAX_JSON_DEPTH),                             # 8 deepest allowed
        nested(contract.MAX_JSON_DEPTH + 1),                         # 9 too deep
        line(order("str-total", total_fen="1000")),                  # 10 number as a string
        line(order("big-total", total_fen=2**63)),                   # 11 beyond 64 bits
        line(order("max-total", total_fen=2**63 - 1)),               # 12 fits
        line(order("huge"))[:-1] + b', "n": ' + b"9" * 1000 + b"}",  # 13 longest number
        line(order("huger"))[:-1] + b', "n": ' + b"9" * 1001 + b"}",  # 14 too long a number
        line(order("nan"))[:-1] + b', "n": NaN}',                    # 15 not JSON
        line(order("tail")) + b" x",                                 # 16 trailing garbage
        line(order("two")) + line(order("two")),                     # 17 two values
        line(order("extra", coupon="C1", meta={"a": [1]})),          # 18 extra fields
        line(order("lone"))[:-1] + b', "s": "\\ud800"}',             # 19 lone surrogate
        line(order("pair", name="\U0001F389"), ensure_ascii=True),  # 20 escaped pair
        b"\xef\xbb\xbf" + line(order("late-bom")),                   # 21 BOM not at start
        line(order("early-close")) + b"] x",                         # 22 closes a wrapper
        line(order("more-values")) + b', "x"',                       # 23 adds to a wrapper
    ]),
    "b.jsonl": b"",                                                  # empty file
    "e.jsonl.gz": b"",                                               # empty, even of gzip
    "c.jsonl.gz": gzip.compress(b"\n".join(
        [line(order(i)) for i in HOSTILE_IDS]
        + [line(order("extra")), line(order("extra", coupon="C2"))]) + b"\n"),
}
EXPECTED = {
    ("a.jsonl", 5): contract.REASON_NOT_UTF8,
    ("a.jsonl", 6): contract.REASON_NOT_UTF8,
    ("a.jsonl", 7): contract.REASON_TOO_LONG,
    ("a.jsonl", 9): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 10): contract.reason_mistyped(ORDERS.field("total_fen")),
    ("a.jsonl", 11): contract.reason_mistyped(ORDERS.field("total_fen")),
    ("a.jsonl", 14): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 15): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 16): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 17): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 19): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 21): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 22): contract.REASON_UNPARSEABLE,
    ("a.jsonl", 23): contract.REASON_UNPARSEABLE,
}
GOOD = {"bom", "crlf", f"deep{contract.MAX_JSON_DEPTH}", "max-total", "huge", "extra", "pair",
        *HOSTILE_IDS}


@pytest.fixture(scope="module")
def limits(config):
    return config.__class__(**{**config.__dict__, "max_bad_row_rate": 0.99,
                               "max_line_bytes": MAX_LINE})


def write_files(landing: Path, files: dict[str, bytes], source: str = "orders") -> Path:
    folder = landing / source / f"ds={DS}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def python_reasons(folder: Path, config) -> dict[tuple[str, int], str]:
    return {(path.name, number): checked.reason
            for path in sorted(folder.iterdir())
            for number, checked in check_lines(ORDERS, read_chunks(path, 2**30), DS, config)
            if checked.reason}


def rows(spark, path: Path) -> list[dict]:
    return [r.asDict() for r in spark.read.parquet(str(path)).collect()]


@pytest.fixture(scope="module")
def hostile_day(spark, tmp_path_factory, limits):
    """FILES, plus stray files, ingested once: (landing, lake, counts)."""
    root = tmp_path_factory.mktemp("hostile")
    landing, lake = root / "landing", root / "lake"
    write_files(landing, {**FILES, "notes.txt": b"hello", "d.json": line(order("d"))})
    write_files(landing, {"a.jsonl": line(order("c1"))}, source="coupons")
    return landing, lake, ingest(spark, str(landing), str(lake), limits, DS)


@pytest.fixture(scope="module")
def hostile_day_read_line_by_line(spark, tmp_path_factory, limits):
    """FILES ingested as large files (Hadoop's line reader; a.jsonl through its cut copy)."""
    root = tmp_path_factory.mktemp("hostile-large")
    write_files(root / "landing", FILES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest_landing, "WHOLE_FILE_MAX_BYTES", 0)
        ingest(spark, str(root / "landing"), str(root / "lake"), limits, DS)
    return root / "lake"


def test_python_validator_gives_each_hostile_line_its_reason(tmp_path, limits):
    folder = write_files(tmp_path, FILES)
    assert python_reasons(folder, limits) == EXPECTED


def test_spark_ingest_gives_each_hostile_line_the_validators_reason(spark, hostile_day):
    landing, lake, _ = hostile_day
    quarantined = {(q["file"], q["line"]): q["reason"]
                   for q in rows(spark, lake / "quarantine" / f"ds={DS}")}
    assert quarantined == EXPECTED


def test_large_files_read_line_by_line_get_the_validators_reasons(
        spark, hostile_day_read_line_by_line):
    lake = hostile_day_read_line_by_line
    quarantined = {(q["file"], q["line"]): q["reason"]
                   for q in rows(spark, lake / "quarantine" / f"ds={DS}")}
    assert quarantined == EXPECTED
    assert not list((lake / "_staging").iterdir())  # the cut copy is gone
    assert sorted(r["order_id"] for r in rows(spark, lake / "orders" / f"ds={DS}")) == sorted(
        GOOD)


def test_ids_and_valid_edge_lines_reach_the_lake_unchanged(spark, hostile_day):
    landing, lake, _ = hostile_day
    assert sorted(r["order_id"] for r in rows(spark, lake / "orders" / f"ds={DS}")) == sorted(
        GOOD)


def test_both_readers_count_the_day_alike_and_extra_fields_never_conflict(
        spark, hostile_day, limits):
    """Blank lines are no rows; "extra" arrives three times with different extra fields:
    one row and two exact duplicates, never an id conflict. Five objects carry extra
    fields (two "extra", "pair", the deepest line and the longest number)."""
    landing, lake, counts = hostile_day
    python = validate_landing(landing, limits)["orders"][DS]
    spark_counts = {c.source: c for c in counts}["orders"]
    assert (spark_counts.rows, spark_counts.bad, spark_counts.duplicates,
            spark_counts.extra_fields) == (python.rows, python.bad, python.duplicates,
                                           python.extra_fields) == (
        21 + len(HOSTILE_IDS) + 2, len(EXPECTED), 2, 5)
    report = rows(spark, lake / "ingest_report" / f"ds={DS}")
    assert [(r["source"], r["extra_fields"]) for r in report] == [("orders", 5)]


def test_stray_files_are_named_by_the_ingest_and_by_validate(spark, hostile_day):
    landing, lake, _ = hostile_day
    expected = {(str(landing / "coupons" / f"ds={DS}"), "source coupons is not in the contract"),
                (str(landing / "orders" / f"ds={DS}" / "d.json"), "not a <name>.jsonl[.gz] file"),
                (str(landing / "orders" / f"ds={DS}" / "notes.txt"),
                 "not a <name>.jsonl[.gz] file")}
    assert {(r["path"], r["reason"]) for r in rows(spark, lake / "stray_files" / f"ds={DS}")
            } == expected
    assert {(str(p), why) for p, why in stray_files(landing)} == expected


def test_validate_command_names_stray_files_and_reads_bytes_that_are_not_utf8(
        tmp_path, capsys):
    write_files(tmp_path, {"a.jsonl": line(order("o1")) + b"\n\xff\xfe\n", "x.csv": b""})
    assert cli_main(["validate", "--landing", str(tmp_path)]) == 1  # 1 bad row in 2: over
    out = capsys.readouterr().out
    assert "orders       ds=2018-11-05  rows=2         bad=1" in out
    assert f"stray        {tmp_path / 'orders' / f'ds={DS}' / 'x.csv'}: not a" in out


GZIP = gzip.compress(b"\n".join(line(order(f"o{i}")) for i in range(2000)) + b"\n")
BROKEN = {
    "truncated": GZIP[: len(GZIP) // 2],
    "corrupt": GZIP[:20] + bytes(b ^ 0x55 for b in GZIP[20:60]) + GZIP[60:],
    "not gzip at all": b"plain text named .gz\n",
}


@pytest.mark.parametrize("damage", list(BROKEN))
def test_a_gzip_file_that_cannot_be_read_fails_its_day_naming_the_file(
        spark, tmp_path, config, damage):
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    folder = write_files(landing, {"a.jsonl": line(order("fine")),
                                   "b.jsonl.gz": BROKEN[damage]})
    message = f"^{folder / 'b.jsonl.gz'}: cannot be read to its end"
    with pytest.raises(LandingFileError, match=message):
        ingest(spark, str(landing), str(lake), config, DS)
    assert not lake.exists()  # nothing of the day was written
    with pytest.raises(LandingFileError, match=message):
        validate_landing(landing, config)


def test_validate_command_reports_a_broken_file_in_one_line(tmp_path, capsys):
    folder = write_files(tmp_path, {"b.jsonl.gz": BROKEN["corrupt"]})
    assert cli_main(["validate", "--landing", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {folder / 'b.jsonl.gz'}: cannot be read to its end")
    assert error.count("\n") == 1


@pytest.mark.parametrize("name", ["big.jsonl", "bomb.jsonl.gz"])
def test_a_file_past_max_file_bytes_fails_its_day_naming_the_file(
        spark, tmp_path, config, name):
    """bomb.jsonl.gz is small on disk; only its decompressed size is over the limit."""
    small = config.__class__(**{**config.__dict__, "max_line_bytes": 1000,
                                "max_file_bytes": 100_000})
    data = b"\n" * 100_001
    landing = tmp_path / "landing"
    folder = write_files(landing, {name: gzip.compress(data) if name.endswith(".gz") else data})
    message = f"^{folder / name}: more than landing.max_file_bytes=100000"
    with pytest.raises(LandingFileError, match=message):
        ingest(spark, str(landing), str(tmp_path / "lake"), small, DS)
    with pytest.raises(LandingFileError, match=message):
        validate_landing(landing, small)


def test_ingest_command_line_reports_a_broken_file_in_one_line(spark, tmp_path, capsys):
    from tests.conftest import CONFIG_PATH
    from tests.job_fixtures import session_settings_kept

    landing = tmp_path / "landing"
    folder = write_files(landing, {"b.jsonl.gz": BROKEN["truncated"]})
    with session_settings_kept(spark):
        code = ingest_landing.main(["--landing", str(landing), "--lake", str(tmp_path / "lake"),
                                    "--config", str(CONFIG_PATH), "--ds", str(DS)])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith(f"error: {folder / 'b.jsonl.gz'}: cannot be read to its end")
    assert error.count("\n") == 1


# The JIT never compiles Spark's VARIANT code: its frames stay the interpreter's, the
# largest they get, as in a JVM that has not warmed up yet.
VARIANT_CODE_INTERPRETED = ("-XX:CompileCommand=quiet "
                            "-XX:CompileCommand=exclude,org.apache.spark.types.variant.*::*")


@pytest.mark.e2e
def test_the_deepest_lines_the_contract_admits_do_not_overflow_a_tasks_stack(tmp_path, config):
    """A task whose stack overflows takes Spark's JVM down, so the ingest job runs in a JVM
    of its own, started with the options every session gets (spark_jobs.session.JVM_OPTIONS).
    Nested objects take more stack per level than arrays: without THREAD_STACK, the
    JVM's default 1 MiB, the object line kills the job."""
    from tests.conftest import CONFIG_PATH

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    folder = write_files(landing, {"a.jsonl": nested(contract.MAX_JSON_DEPTH) + b"\n"
                                   + nested_objects(contract.MAX_JSON_DEPTH) + b"\n"})
    assert python_reasons(folder, config) == {}
    env = {**os.environ, "SPARK_MASTER": "local[1]", "JAVA_TOOL_OPTIONS": VARIANT_CODE_INTERPRETED}
    env.pop("SPARK_REMOTE", None)
    job = subprocess.run(
        [sys.executable, "-m", "spark_jobs.ingest_landing", "--landing", str(landing),
         "--lake", str(lake), "--config", str(CONFIG_PATH), "--ds", str(DS)],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
        timeout=600)
    assert job.returncode == 0, job.stderr[-3000:]
    assert "orders       rows=2 ingested=2 duplicates=0 bad=0" in job.stdout


def test_validate_reads_a_huge_line_in_bounded_memory(tmp_path, config):
    """64 MiB on one line, a 1 MiB line limit: validate holds about a chunk and a line."""
    limit = config.__class__(**{**config.__dict__, "max_line_bytes": 2**20})
    folder = tmp_path / "orders" / f"ds={DS}"
    folder.mkdir(parents=True)
    with (folder / "a.jsonl").open("wb") as handle:
        for _ in range(64):
            handle.write(b"x" * 2**20)
        handle.write(b"\n" + line(order("o1")) + b"\n")
    tracemalloc.start()
    try:
        report = validate_landing(tmp_path, limit)["orders"][DS]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (report.rows, report.bad, report.reasons) == (2, 1, {contract.REASON_TOO_LONG: 1})
    assert peak < 8 * 2**20


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz"])
def test_spark_holds_a_huge_line_of_a_large_file_cut_to_the_limit(
        spark, tmp_path, limits, monkeypatch, name):
    """A line of 1 MiB in a file read line by line reaches Spark cut to max_line_bytes + 1
    bytes (Hadoop's reader would hold it whole), keeps its line number and its reason,
    and so do the lines after it; the quarantined raw is the line's first bytes."""
    huge = b'{"order_id": "' + b"\xe5\xb0\x8f" * 2**18 + b'"}'
    data = b"\n".join([line(order("o1")), huge, line(order("o3")), b"y" * (MAX_LINE + 1),
                       line(order("o5"))]) + b"\r\n"
    folder = write_files(tmp_path / "landing",
                         {name: gzip.compress(data) if name.endswith(".gz") else data})
    monkeypatch.setattr(ingest_landing, "WHOLE_FILE_MAX_BYTES", 1000)
    ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), limits, DS)
    quarantined = sorted(rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}"),
                         key=lambda q: q["line"])
    assert [(q["file"], q["line"], q["reason"]) for q in quarantined] == [
        (name, 2, contract.REASON_TOO_LONG), (name, 4, contract.REASON_TOO_LONG)]
    assert quarantined[0]["raw"] == huge[:MAX_LINE + 1].decode(errors="replace")
    assert quarantined[1]["raw"] == "y" * (MAX_LINE + 1)
    assert sorted((r["line"], r["order_id"]) for r in rows(
        spark, tmp_path / "lake/orders" / f"ds={DS}")) == [(1, "o1"), (3, "o3"), (5, "o5")]
    assert python_reasons(folder, limits) == {(name, 2): contract.REASON_TOO_LONG,
                                              (name, 4): contract.REASON_TOO_LONG}


def test_hadoop_skips_a_line_that_grew_past_the_limit_after_the_check(
        spark, tmp_path, limits, monkeypatch):
    """Should a large file change between its check and its read, Hadoop's line limit
    still keeps a huge line out of memory (the change is reported on the next run)."""
    data = b"\n".join([line(order("o1")), b"z" * 2**20, line(order("o3"))])
    write_files(tmp_path / "landing", {"a.jsonl": data})
    monkeypatch.setattr(ingest_landing, "WHOLE_FILE_MAX_BYTES", 1000)
    monkeypatch.setattr(ingest_landing, "checked_file",
                        lambda path, *limits: FileCheck(len(data), False))
    ingest(spark, str(tmp_path / "landing"), str(tmp_path / "lake"), limits, DS)
    assert rows(spark, tmp_path / "lake/quarantine" / f"ds={DS}") == []
    assert sorted(r["order_id"] for r in rows(
        spark, tmp_path / "lake/orders" / f"ds={DS}")) == ["o1", "o3"]


def test_payout_file_quotes_hostile_ids_per_rfc_4180(config, tmp_path):
    """Every id comes back exactly through a CSV reader, and a field holding a comma, a
    quote, CR or LF is quoted."""
    claimed = dt.datetime(2018, 11, 13, 1, tzinfo=dt.UTC)
    payouts = [(DS, f"{i:032x}", group, f"u-{group}", 100, claimed,
                claimed + dt.timedelta(days=1)) for i, group in enumerate(HOSTILE_IDS)]
    staged = stage_payouts(fake_marts(payouts, max_rows=len(payouts)), config, DS,
                           tmp_path / "staging", tmp_path / "exports")
    [control] = staged["batches"]
    data = (tmp_path / "staging" / "payouts" / control["file"]).read_bytes()
    parsed = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert [(r[2], r[3]) for r in parsed[1:]] == [(g, f"u-{g}") for g in HOSTILE_IDS]
    for group in HOSTILE_IDS:
        if any(c in group for c in ',"\r\n'):
            assert ('"' + group.replace('"', '""') + '"').encode() in data
