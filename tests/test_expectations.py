"""The Great Expectations gates: a good batch passes each suite, and a crafted bad batch
fails exactly the expectations it breaks, named in the gate's message and its results."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from pyspark.sql import types as T

from expectations.attribution import attribution_batch
from expectations.gate import QualityGateFailed, results_path, run_gate
from expectations.landing import lake_batch
from grouprebate.contract import SOURCES
from spark_jobs.ingest_landing import REPORT_SCHEMA, lake_schema

DS = dt.date(2018, 11, 5)
IN_DAY = dt.datetime(2018, 11, 5, 2, 0, tzinfo=dt.UTC)


def landing_frame(spark, config, source: str, rows: list[tuple],
                  schema: T.StructType | None = None):
    """A day's rows as the gate reads them: written types, nulls allowed."""
    schema = schema or lake_schema(SOURCES[source])
    nullable = T.StructType([T.StructField(f.name, f.dataType, True) for f in schema.fields])
    return spark.createDataFrame(rows, nullable)


def order(order_id: str, total: int = 1000, at: dt.datetime = IN_DAY, line: int = 1) -> tuple:
    return (order_id, "b", "i1", "s", total, at, "8.10.0", f"hash-{order_id}", "a.jsonl", line)


def membership(event_id: str, action: str = "join") -> tuple:
    return (event_id, "g1", "u1", action, IN_DAY, f"hash-{event_id}", "a.jsonl", 1)


def report(source: str, rows: int, bad: int, limit: float) -> tuple:
    return (source, rows, rows - bad, 0, bad, 0, bad / rows, limit, bad / rows <= limit)


def landing_batches(spark, config, orders, memberships, reports, orders_schema=None):
    return [lake_batch(config, DS, spark.createDataFrame(reports, REPORT_SCHEMA), {
        "orders": landing_frame(spark, config, "orders", orders, orders_schema),
        "memberships": landing_frame(spark, config, "memberships", memberships)})]


def failures(workdir, stage: str) -> set[tuple[str, str, str | None]]:
    """(table, expectation, column) of each failed expectation, the table without its ds."""
    path = results_path(workdir, stage, DS)
    return set(duckdb.sql(f"select split_part(table_name, ' ', 1), expectation, column_name "
                          f"from '{path}' where not success").fetchall())


def test_the_landing_suites_pass_a_good_day(spark, config, tmp_path):
    batches = landing_batches(spark, config, [order("o1"), order("o2", line=2)],
                              [membership("e1"), membership("e2", "leave")],
                              [report("orders", 100, 1, config.max_bad_row_rate)])
    summary = run_gate(tmp_path, "landing", DS, batches)
    assert summary.failed == 0 and summary.expectations > 15
    assert failures(tmp_path, "landing") == set()
    # one suite over every source; passing, it asks GX for success only (no counts: fewer
    # Spark queries), and each expectation names the table it guards
    results = duckdb.sql(f"select suite, count(unexpected_count), count(distinct table_name) "
                         f"from '{results_path(tmp_path, 'landing', DS)}' group by suite")
    assert results.fetchall() == [("landing", 0, len(SOURCES) + 2)]
    assert (tmp_path / "data-docs" / "index.html").is_file()


def test_each_landing_expectation_fails_on_the_row_that_breaks_it(spark, config, tmp_path):
    late = dt.datetime(2018, 11, 5, 17, 0, 1, tzinfo=dt.UTC)   # 11-06 01:00:01 Beijing
    early = dt.datetime(2018, 10, 19, 15, 59, tzinfo=dt.UTC)  # before the calendar opens
    orders = [order("o1"), order("o1", line=2),                # the key twice
              order("o2", total=0), order("o3", at=late), order("o4", at=early)]
    bad_rate = config.max_bad_row_rate * 2
    reports = [report("orders", 100, 1, config.max_bad_row_rate),
               report("payments", 1000, int(1000 * bad_rate), config.max_bad_row_rate)]
    with pytest.raises(QualityGateFailed) as failed:
        run_gate(tmp_path, "landing", DS, landing_batches(
            spark, config, orders, [membership("e1", "kick")], reports))
    assert failures(tmp_path, "landing") == {
        ("lake.orders", "expect_column_values_to_be_in_set", "orders__key_unique"),
        ("lake.orders", "expect_column_values_to_be_between", "orders__total_fen"),
        ("lake.orders", "expect_column_values_to_be_between", "orders__created_at"),
        ("lake.memberships", "expect_column_values_to_be_in_set", "memberships__action"),
        ("lake.ingest_report", "expect_column_values_to_be_between", "ingest_report__bad_rate"),
    }
    message = str(failed.value)
    assert ("column ingest_report__bad_rate failed on lake.ingest_report ds=2018-11-05 "
            "(docs/rules.md §3 bad-row gate: quality.max_bad_row_rate); unexpected 1 of 2"
            in message)
    assert '"ingest_report__source": "payments"' in message
    assert ("expect_column_values_to_be_in_set column orders__key_unique failed on lake.orders "
            "ds=2018-11-05 (docs/rules.md §3 input contract: order_id unique after dedup)"
            in message)
    # one expectation holds the calendar's start and the arrival day's end: both rows fail
    # it, each named by its key, file and line, without the other tables' empty columns
    assert ('{"orders__created_at": "2018-11-05 17:00:01", "orders__file": "a.jsonl", '
            '"orders__line": 1, "orders__order_id": "o3"}') in message
    assert '"orders__order_id": "o4"' in message


def test_a_mistyped_or_missing_column_fails_the_shape_expectations(spark, config, tmp_path):
    fields = lake_schema(SOURCES["orders"]).fields
    schema = T.StructType([T.StructField(f.name, T.StringType()) if f.name == "total_fen" else f
                           for f in fields])
    row = list(order("o1"))
    row[4] = "1000"
    with pytest.raises(QualityGateFailed, match="expect_column_values_to_be_of_type"):
        run_gate(tmp_path, "landing", DS, landing_batches(
            spark, config, [tuple(row)], [membership("e1")], [], schema))
    assert ("lake.orders", "expect_column_values_to_be_of_type", "orders__total_fen") in failures(
        tmp_path, "landing")


def test_a_missing_or_extra_column_fails_the_column_set(spark, config, tmp_path):
    orders = landing_frame(spark, config, "orders", [order("o1")])
    with pytest.raises(QualityGateFailed, match="expect_table_columns_to_match_set"):
        run_gate(tmp_path, "landing", DS, [lake_batch(
            config, DS, spark.createDataFrame([], REPORT_SCHEMA),
            {"orders": orders.drop("total_fen").withColumn("coupon", orders.line)})])
    (observed,), = duckdb.sql(
        f"select observed_value from '{results_path(tmp_path, 'landing', DS)}' "
        "where not success and expectation = 'expect_table_columns_to_match_set'").fetchall()
    assert "coupon" in observed and "orders__total_fen" not in observed
    # the missing column's own rules fail too, rather than pass on a column of nulls
    assert ("lake.orders", "expect_column_values_to_be_between", "orders__total_fen") in failures(
        tmp_path, "landing")


def attribution_batches(spark, config, orders, members, pools):
    return [attribution_batch(
        config, DS,
        spark.createDataFrame(orders, "order_id string, group_id string, share_id string, "
                              "buyer_user_id string, sharer_user_id string, paid_fen long, "
                              "contribution_fen long"),
        spark.createDataFrame(members, "group_id string, user_id string, contribution_fen long"),
        spark.createDataFrame(pools, "group_id string, pool_fen long, is_valid boolean, "
                              "is_eligible boolean, member_count_at_draw_open int"))]


def test_the_attribution_suite_passes_consistent_standings(spark, config, tmp_path):
    batches = attribution_batches(
        spark, config,
        [("o1", "g1", "s1", "b", "a", 1000, 700), ("o2", "g1", "s1", "d", "a", 300, 300)],
        [("g1", "b", 700), ("g1", "d", 300)],
        [("g1", 1000, True, True, 4), ("g2", 0, False, False, 20)])
    assert run_gate(tmp_path, "attribution", DS, batches).failed == 0


def test_each_attribution_identity_fails_on_the_row_that_breaks_it(spark, config, tmp_path):
    orders = [("o1", "g1", "s1", "b", "a", 1000, 700),
              ("o1", "g2", "s2", "b", "a", 1000, 0),      # attributed twice
              ("o2", "g1", "s1", "a", "a", 100, 100),     # the sharer bought
              ("o3", "g3", "s3", "b", "a", 100, -1),      # negative
              ("o4", "g4", "s4", "b", "a", 100, 101)]     # above what was paid
    members = [("g1", "b", 700), ("g1", "a", 100), ("g2", "b", 0),
               ("g3", "b", -1), ("g4", "b", 100)]         # g4: 100 but the order says 101
    pools = [("g1", 800, True, True, 4), ("g1", 800, True, True, 4),     # two pools
             ("g2", 5, True, False, 4),                                   # pool != members
             ("g3", -1, False, True, 4),                                  # eligible, invalid
             ("g4", 100, True, True, config.group_max_members + 1)]      # too many members
    with pytest.raises(QualityGateFailed) as failed:
        run_gate(tmp_path, "attribution", DS,
                 attribution_batches(spark, config, orders, members, pools))
    orders_, members_, pools_ = (f"lake.attribution.{name}" for name in (
        "attributed_orders", "member_contributions", "group_pools"))
    assert failures(tmp_path, "attribution") == {
        (orders_, "expect_column_values_to_be_in_set", "attributed_orders__attributed_once"),
        (orders_, "expect_column_values_to_be_in_set", "attributed_orders__sharer_is_not_buyer"),
        (orders_, "expect_column_values_to_be_between", "attributed_orders__contribution_fen"),
        (orders_, "expect_column_values_to_be_in_set",
         "attributed_orders__contribution_within_paid"),
        (members_, "expect_column_values_to_be_in_set",
         "member_contributions__contribution_equals_orders"),
        (pools_, "expect_column_values_to_be_in_set", "group_pools__one_pool"),
        (pools_, "expect_column_values_to_be_in_set", "group_pools__pool_equals_members"),
        (pools_, "expect_column_values_to_be_in_set", "group_pools__eligible_is_valid"),
        (pools_, "expect_column_values_to_be_between", "group_pools__members_if_eligible"),
    }
    assert '"group_pools__group_id": "g3"' in str(failed.value)


def test_the_landing_gate_checks_each_partition_with_rows_as_written(spark, config, tmp_path):
    from expectations.landing import landing_batches as lake_batches
    from spark_jobs.lake import overwrite_partition

    reports = [report("orders", 1, 0, 0.01), report("draws", 1, 1, 0.01)]
    overwrite_partition(spark.createDataFrame(reports, REPORT_SCHEMA), tmp_path,
                        "ingest_report", DS)
    orders = spark.createDataFrame([order("o1")], lake_schema(SOURCES["orders"]))
    overwrite_partition(orders, tmp_path, "orders", DS)
    overwrite_partition(spark.createDataFrame([], lake_schema(SOURCES["draws"])), tmp_path,
                        "draws", DS)
    batch, = lake_batches(spark, str(tmp_path), config, DS)
    assert batch.frame.schema["orders__total_fen"].dataType == T.LongType()
    assert batch.parameters == {"arrival_deadline": dt.datetime(
        2018, 11, 6, 1, 0, tzinfo=config.tz)}
    # the report's draws brought no good rows: its partition is not read (an empty table)
    assert batch.frame.count() == 2 + 1
    assert batch.frame.where("draws__event_id is not null").count() == 0


def test_a_day_without_an_ingest_report_fails_the_landing_gate(spark, config, tmp_path):
    from expectations.landing import landing_batches as lake_batches
    from spark_jobs.lake import overwrite_partition

    overwrite_partition(spark.createDataFrame([order("o1")], lake_schema(SOURCES["orders"])),
                        tmp_path, "orders", DS)
    with pytest.raises(QualityGateFailed, match="ingest_report has no partition"):
        lake_batches(spark, str(tmp_path), config, DS)


def test_the_data_docs_index_waits_for_the_last_gate_of_the_date_unless_one_fails(
        spark, config, tmp_path):
    """A passing gate told not to rebuild the index leaves it alone; a failing one rebuilds
    it (no later gate runs that date), listing both gates' results."""
    index = tmp_path / "data-docs" / "index.html"
    good = [("o1", "g1", "s1", "b", "a", 1000, 700)]
    run_gate(tmp_path, "attribution", DS, attribution_batches(
        spark, config, good, [("g1", "b", 700)], [("g1", 700, True, True, 4)]), index=False)
    assert not index.exists()
    with pytest.raises(QualityGateFailed):
        run_gate(tmp_path, "attribution", DS + dt.timedelta(days=1), attribution_batches(
            spark, config, good, [("g1", "b", 600)], [("g1", 700, True, True, 4)]), index=False)
    listed = index.read_text()
    assert f"{DS} attribution" in listed and f"{DS + dt.timedelta(days=1)} attribution" in listed
