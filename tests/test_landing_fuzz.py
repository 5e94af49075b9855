"""Fuzzed landing lines: the plain-Python reader never crashes, whatever the bytes, and the
Spark ingest gives a generated file's lines the same verdicts, line by line."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grouprebate import contract
from grouprebate.landing import check_lines, has_long_line, split_lines
from spark_jobs.ingest_landing import ingest

DS = dt.date(2018, 11, 5)
ORDERS = contract.SOURCES["orders"]
MAX_LINE = 200
VALID = {"order_id": "o1", "buyer_user_id": "u1", "item_id": "i1", "seller_id": "s1",
         "total_fen": 1000, "created_at": "2018-11-05T10:00:00+08:00", "client_version": "8.1.0"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)


@st.composite
def mutated_order(draw) -> bytes:
    """A valid order with fields dropped, replaced or added, then bytes flipped or cut."""
    obj = dict(VALID)
    for name in draw(st.lists(st.sampled_from(ORDERS.field_names), max_size=2)):
        if draw(st.booleans()):
            obj.pop(name, None)
        else:
            obj[name] = draw(json_values)
    obj.update(draw(st.dictionaries(st.text(max_size=4), json_values, max_size=2)))
    data = bytearray(json.dumps(obj, ensure_ascii=draw(st.booleans())).encode())
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data)))
        data[at:at + draw(st.integers(0, 2))] = draw(st.binary(max_size=2))
    return bytes(data)


lines = st.one_of(st.binary(max_size=40), mutated_order(), st.just(json.dumps(VALID).encode()))


def _config(config):
    return config.__class__(**{**config.__dict__, "max_bad_row_rate": 0.99,
                               "max_line_bytes": MAX_LINE})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(lines, max_size=6).map(b"\n".join), cuts=st.lists(st.integers(0, 400)))
def test_python_reader_judges_any_bytes_the_same_however_they_are_chunked(config, data, cuts):
    """Every line gets a record or a reason, never an exception; chunk boundaries (a CR LF
    or a UTF-8 sequence cut in two) change nothing."""
    bounds = sorted({0, len(data), *[c for c in cuts if c < len(data)]})
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    verdicts = list(check_lines(ORDERS, chunks, DS, _config(config)))
    assert verdicts == list(check_lines(ORDERS, [data], DS, _config(config)))
    assert all((c.record is None) != (c.reason is None) for _, c in verdicts)
    assert list(split_lines(chunks, MAX_LINE)) == list(split_lines([data], MAX_LINE))
    assert has_long_line(chunks, MAX_LINE) == any(long for _, long in split_lines([data], MAX_LINE))


@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(lines, min_size=200, max_size=200))
def test_spark_and_python_agree_on_a_batch_of_fuzzed_lines(spark, tmp_path_factory, config,
                                                          batch):
    """One Spark job per example: 200 generated lines in one file."""
    root = tmp_path_factory.mktemp("fuzz")
    folder = root / "landing" / "orders" / f"ds={DS}"
    folder.mkdir(parents=True)
    data = b"\n".join(batch) + b"\n"
    (folder / "a.jsonl").write_bytes(data)
    python = {number: c.reason
              for number, c in check_lines(ORDERS, [data], DS, _config(config)) if c.reason}
    ingest(spark, str(root / "landing"), str(root / "lake"), _config(config), DS)
    quarantined = spark.read.parquet(str(root / "lake" / "quarantine" / f"ds={DS}")).collect()
    conflict = contract.reason_conflict(ORDERS.key)
    assert {q["line"]: q["reason"] for q in quarantined if q["reason"] != conflict} == python
