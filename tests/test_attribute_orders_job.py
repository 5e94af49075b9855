"""The attribution job over a lake: standings by day, the freeze, late data and orphans.

The base lake is written once for the module, and the freeze run over it (with rows that
arrive the day after the freeze) is made once; each test runs the job on its own copy
(copy_lake), so none sees another's outputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from spark_jobs import attribute_orders
from spark_jobs.attribute_orders import (
    FREEZE_MANIFEST,
    FROZEN_TABLES,
    FrozenSnapshotConflict,
    attribute,
    table_digest,
)
from tests.job_fixtures import copy_lake, session_settings_kept
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
LATE = D(2018, 11, 13)


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


def files(lake, names=FROZEN_TABLES, ds: dt.date = FREEZE) -> dict[str, tuple]:
    """Every file of the tables' ds partitions, with its inode, mtime and content digest:
    a file rewritten in place or replaced, even by the same bytes, shows."""
    found = {}
    for name in names:
        for path in sorted(Path(lake, "attribution", name, f"ds={ds}").iterdir()):
            stat = path.stat()
            found[f"{name}/{path.name}"] = (stat.st_ino, stat.st_mtime_ns,
                                            hashlib.sha256(path.read_bytes()).hexdigest())
    return found


class Killed(BaseException):
    """The process dies here (a BaseException, so no `except Exception` cleanup runs)."""


@pytest.fixture(scope="module")
def base_lake(spark, tmp_path_factory) -> Path:
    """base() written once; tests copy it before running the job."""
    lake = tmp_path_factory.mktemp("base") / "lake"
    write_lake(spark, str(lake), **base())
    return lake


@pytest.fixture(scope="module")
def frozen_lake(spark, tmp_path_factory, config, base_lake) -> tuple[Path, str]:
    """base() with a refund and a payment arriving the day after the freeze, and the
    freeze run over it made once: (the lake, the phase the freeze run returned)."""
    lake = copy_lake(base_lake, tmp_path_factory.mktemp("frozen") / "lake")
    write_lake(spark, lake,
               refunds=[refund("r1", "o1", 400, "11-10 10:00", ds=LATE)],
               payments=[payment("p2", "o1", 50, "11-11 10:00", ds=LATE)])
    return Path(lake), attribute(spark, lake, config, FREEZE)


def test_standings_grow_by_day_until_the_freeze(spark, tmp_path, config, base_lake):
    lake = copy_lake(base_lake, tmp_path / "lake")
    assert attribute(spark, lake, config, D(2018, 11, 4)) == "standings"
    assert attribute(spark, lake, config, D(2018, 11, 5)) == "standings"
    assert pool(spark, lake, D(2018, 11, 4)) == 0
    assert pool(spark, lake, D(2018, 11, 5)) == 1000


def test_data_arriving_after_the_freeze_is_listed_not_applied(spark, tmp_path, config,
                                                              frozen_lake):
    frozen, freeze_phase = frozen_lake
    lake = copy_lake(frozen, tmp_path / "lake")
    assert freeze_phase == "freeze"
    assert attribute(spark, lake, config, LATE) == "frozen"
    assert pool(spark, lake, FREEZE) == 1000
    assert not (tmp_path / "lake/attribution/group_pools" / f"ds={LATE}").exists()
    listed = {(r["source"], r["row_key"]) for r in table(spark, lake, "late_arrivals", LATE)}
    assert listed == {("refunds", "r1"), ("payments", "p2")}
    assert table(spark, lake, "late_arrivals", FREEZE) == []


def test_rerunning_the_freeze_date_leaves_the_snapshot_alone_and_refreshes_the_rest(
        spark, tmp_path, config, frozen_lake):
    """The committed snapshot is never rewritten, not even with the same rows; the freeze
    date's other tables are written by every run (here a new orphan payment appears)."""
    lake = copy_lake(frozen_lake[0], tmp_path / "lake")
    snapshot = files(lake)
    manifest = (Path(lake) / FREEZE_MANIFEST).read_bytes()
    write_lake(spark, lake,
               refunds=[refund("r2", "o1", 400, "11-10 10:00", ds=D(2018, 11, 14))],
               payments=[payment("p9", "o9", 70, "11-10 10:00", ds=D(2018, 11, 10))])
    assert attribute(spark, lake, config, FREEZE) == "freeze"
    assert files(lake) == snapshot
    assert (Path(lake) / FREEZE_MANIFEST).read_bytes() == manifest
    assert pool(spark, lake, FREEZE) == 1000
    assert [o["row_key"] for o in table(spark, lake, "orphans", FREEZE)] == ["p9"]


def test_a_freeze_rerun_with_different_results_refuses_to_overwrite(spark, tmp_path, config,
                                                                     frozen_lake):
    lake = copy_lake(frozen_lake[0], tmp_path / "lake")
    written = files(lake, (*FROZEN_TABLES, "orphans", "membership_intervals"))
    manifest = (Path(lake) / FREEZE_MANIFEST).read_bytes()
    # Someone re-ingested an old day with a new refund: the published pools must not move.
    write_lake(spark, lake, refunds=[refund("r2", "o1", 400, "11-10 10:00", ds=D(2018, 11, 10))])
    with pytest.raises(FrozenSnapshotConflict, match="published pools never change"):
        attribute(spark, lake, config, FREEZE)
    assert files(lake, (*FROZEN_TABLES, "orphans", "membership_intervals")) == written
    assert (Path(lake) / FREEZE_MANIFEST).read_bytes() == manifest
    assert pool(spark, lake, FREEZE) == 1000


def test_a_freeze_killed_before_its_manifest_is_made_again_by_the_rerun(
        spark, tmp_path, config, base_lake, monkeypatch):
    """The manifest commits the snapshot: partitions written without it were never
    published, so the re-run recomputes them from the lake as it is now (a refund that
    arrived meanwhile counts) and commits them."""
    lake = copy_lake(base_lake, tmp_path / "lake")

    def killed(path, data):
        raise Killed

    monkeypatch.setattr(attribute_orders, "replace_atomically", killed)
    with pytest.raises(Killed):
        attribute(spark, lake, config, FREEZE)
    monkeypatch.undo()
    assert not (Path(lake) / FREEZE_MANIFEST).exists()
    assert pool(spark, lake, FREEZE) == 1000

    write_lake(spark, lake, refunds=[refund("r2", "o1", 400, "11-10 10:00", ds=D(2018, 11, 10))])
    assert attribute(spark, lake, config, FREEZE) == "freeze"
    assert pool(spark, lake, FREEZE) == 600
    committed = json.loads((Path(lake) / FREEZE_MANIFEST).read_text())
    assert committed == {
        name: table_digest(spark.read.parquet(f"{lake}/attribution/{name}/ds={FREEZE}"))
        for name in FROZEN_TABLES}


def test_a_committed_snapshot_with_a_partition_gone_is_refused(spark, tmp_path, config,
                                                              frozen_lake):
    lake = copy_lake(frozen_lake[0], tmp_path / "lake")
    shutil.rmtree(Path(lake, "attribution", "group_pools", f"ds={FREEZE}"))
    with pytest.raises(FrozenSnapshotConflict, match="group_pools are gone"):
        attribute(spark, lake, config, FREEZE)
    assert not Path(lake, "attribution", "group_pools", f"ds={FREEZE}").exists()


def test_an_orphan_payment_waits_for_its_order(spark, tmp_path, config, base_lake):
    lake = copy_lake(base_lake, tmp_path / "lake")
    # The order arrives two days late: its base() partition is replaced by one on 11-07.
    shutil.rmtree(tmp_path / "lake/orders" / f"ds={D(2018, 11, 5)}")
    write_lake(spark, lake, orders=[order("o1", "b", "i1", ds=D(2018, 11, 7))])
    attribute(spark, lake, config, D(2018, 11, 6))
    orphans = table(spark, lake, "orphans", D(2018, 11, 6))
    assert [(o["source"], o["row_key"], o["parent_id"]) for o in orphans] == [
        ("payments", "p1", "o1")
    ]
    assert pool(spark, lake, D(2018, 11, 6)) == 0
    attribute(spark, lake, config, D(2018, 11, 7))
    assert table(spark, lake, "orphans", D(2018, 11, 7)) == []
    assert pool(spark, lake, D(2018, 11, 7)) == 1000


def test_job_command_line_names_the_phase(spark, tmp_path, capsys, base_lake):
    from spark_jobs.attribute_orders import main
    from tests.conftest import CONFIG_PATH

    lake = copy_lake(base_lake, tmp_path / "lake")
    args = ["--lake", lake, "--config", str(CONFIG_PATH), "--ds", "2018-11-05"]
    with session_settings_kept(spark):
        assert main(args) == 0
    assert capsys.readouterr().out.strip() == "attribute_orders ds=2018-11-05: standings"
