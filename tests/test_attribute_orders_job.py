"""The attribution job over a lake: standings by day, the freeze, late data and orphans."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs.attribute_orders import FrozenSnapshotConflict, attribute
from tests.lake_builders import (
    group,
    join,
    order,
    payment,
    refund,
    share,
    user,
    write_lake,
)

D = dt.date
FREEZE = D(2018, 11, 12)


def base(**extra_rows) -> dict[str, list[dict]]:
    rows = {
        "users": [user(u, ds=D(2018, 10, 25)) for u in "cabd"],
        "groups": [group("g1", "c", ds=D(2018, 10, 25))],
        "memberships": [join(f"m{i}", "g1", u, "10-25 10:00", ds=D(2018, 10, 25))
                        for i, u in enumerate("cabd")],
        "shares": [share("s1", "g1", "a", "i1", "11-02 10:00", ds=D(2018, 11, 2))],
        "orders": [order("o1", "b", "i1", ds=D(2018, 11, 5))],
        "payments": [payment("p1", "o1", 1000, "11-05 10:00", ds=D(2018, 11, 5))],
    }
    for name, more in extra_rows.items():
        rows[name] = rows.get(name, []) + more
    return rows


def table(spark, lake, name: str, ds: dt.date) -> list[dict]:
    path = f"{lake}/attribution/{name}/ds={ds}"
    return [r.asDict() for r in spark.read.parquet(path).collect()]


def pool(spark, lake, ds: dt.date) -> int:
    return {r["group_id"]: r["pool_fen"] for r in table(spark, lake, "group_pools", ds)}["g1"]


def test_standings_grow_by_day_until_the_freeze(spark, tmp_path, config):
    lake = str(tmp_path)
    write_lake(spark, lake, **base())
    assert attribute(spark, lake, config, D(2018, 11, 4)) == "standings"
    assert attribute(spark, lake, config, D(2018, 11, 5)) == "standings"
    assert pool(spark, lake, D(2018, 11, 4)) == 0
    assert pool(spark, lake, D(2018, 11, 5)) == 1000


def test_data_arriving_after_the_freeze_is_listed_not_applied(spark, tmp_path, config):
    lake = str(tmp_path)
    late = D(2018, 11, 13)
    write_lake(spark, lake, **base(
        refunds=[refund("r1", "o1", 400, "11-10 10:00", ds=late)],
        payments=[payment("p2", "o1", 50, "11-11 10:00", ds=late)],
    ))
    assert attribute(spark, lake, config, FREEZE) == "freeze"
    assert attribute(spark, lake, config, late) == "frozen"
    assert pool(spark, lake, FREEZE) == 1000
    assert not (tmp_path / "attribution/group_pools" / f"ds={late}").exists()
    listed = {(r["source"], r["row_key"]) for r in table(spark, lake, "late_arrivals", late)}
    assert listed == {("refunds", "r1"), ("payments", "p2")}
    assert table(spark, lake, "late_arrivals", FREEZE) == []


def test_rerunning_the_freeze_date_is_identical_and_allowed(spark, tmp_path, config):
    lake = str(tmp_path)
    write_lake(spark, lake, **base())
    attribute(spark, lake, config, FREEZE)
    first = sorted(map(str, table(spark, lake, "group_pools", FREEZE)))
    write_lake(spark, lake, refunds=[refund("r1", "o1", 400, "11-10 10:00", ds=D(2018, 11, 14))])
    assert attribute(spark, lake, config, FREEZE) == "freeze"
    assert sorted(map(str, table(spark, lake, "group_pools", FREEZE))) == first


def test_a_freeze_rerun_with_different_results_refuses_to_overwrite(spark, tmp_path, config):
    lake = str(tmp_path)
    write_lake(spark, lake, **base())
    attribute(spark, lake, config, FREEZE)
    # Someone re-ingested an old day with a new refund: the published pools must not move.
    write_lake(spark, lake, refunds=[refund("r1", "o1", 400, "11-10 10:00", ds=D(2018, 11, 10))])
    with pytest.raises(FrozenSnapshotConflict, match="published pools never change"):
        attribute(spark, lake, config, FREEZE)
    assert pool(spark, lake, FREEZE) == 1000


def test_an_orphan_payment_waits_for_its_order(spark, tmp_path, config):
    lake = str(tmp_path)
    rows = base()
    rows["orders"] = [order("o1", "b", "i1", ds=D(2018, 11, 7))]  # arrives two days late
    write_lake(spark, lake, **rows)
    attribute(spark, lake, config, D(2018, 11, 6))
    orphans = table(spark, lake, "orphans", D(2018, 11, 6))
    assert [(o["source"], o["row_key"], o["parent_id"]) for o in orphans] == [
        ("payments", "p1", "o1")
    ]
    assert pool(spark, lake, D(2018, 11, 6)) == 0
    attribute(spark, lake, config, D(2018, 11, 7))
    assert table(spark, lake, "orphans", D(2018, 11, 7)) == []
    assert pool(spark, lake, D(2018, 11, 7)) == 1000


def test_job_command_line_names_the_phase(spark, tmp_path, capsys):
    from spark_jobs.attribute_orders import main
    from tests.conftest import CONFIG_PATH

    write_lake(spark, str(tmp_path), **base())
    args = ["--lake", str(tmp_path), "--config", str(CONFIG_PATH), "--ds", "2018-11-05"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == "attribute_orders ds=2018-11-05: standings"
