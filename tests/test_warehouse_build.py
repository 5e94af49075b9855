"""How a nightly `dbt build` is invoked: one parse per process, no unit tests at night."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from grouprebate.warehouse import dbt_runner as warehouse

DS = dt.date(2018, 11, 5)


@pytest.fixture
def invocations(monkeypatch, tmp_path):
    """Every dbt invocation's arguments and manifest, without running dbt."""
    calls: list[tuple[list[str], object]] = []

    def fake_run_dbt(args, env, check=True, manifest=None):
        calls.append((list(args), manifest))
        return SimpleNamespace(result=f"manifest#{len(calls)}", success=True)

    monkeypatch.setattr(warehouse, "run_dbt", fake_run_dbt)
    monkeypatch.setattr(warehouse, "_PARSED", {})
    return calls


def commands(calls) -> list[str]:
    return [args[0] for args, _ in calls]


def test_builds_of_several_dates_in_one_process_parse_the_project_once(
        invocations, config, tmp_path):
    for day in range(3):
        warehouse.build(config, DS + dt.timedelta(days=day), tmp_path / "lake",
                        warehouse=tmp_path / "warehouse.duckdb")
    assert commands(invocations) == ["parse", "build", "build", "build"]
    assert {manifest for args, manifest in invocations[1:]} == {"manifest#1"}


def test_an_edited_project_or_another_warehouse_is_parsed_again(
        invocations, config, tmp_path, monkeypatch):
    warehouse.build(config, DS, tmp_path / "lake", warehouse=tmp_path / "a.duckdb")
    warehouse.build(config, DS, tmp_path / "lake", warehouse=tmp_path / "b.duckdb")
    monkeypatch.setattr(warehouse, "_project_fingerprint", lambda: ("edited",))
    warehouse.build(config, DS, tmp_path / "lake", warehouse=tmp_path / "b.duckdb")
    assert commands(invocations) == ["parse", "build", "parse", "build", "parse", "build"]


def test_nightly_build_leaves_unit_tests_to_ci_and_keeps_data_tests(
        invocations, config, tmp_path):
    warehouse.build(config, DS, tmp_path / "lake", warehouse=tmp_path / "w.duckdb",
                    unit_tests=False)
    warehouse.build(config, DS, tmp_path / "lake", warehouse=tmp_path / "w.duckdb")
    nightly, full = (args for args, _ in invocations[1:])
    assert nightly[nightly.index("--exclude-resource-type") + 1] == "unit_test"
    assert "--exclude-resource-type" not in full
    assert "--resource-type" not in nightly


def test_the_dag_builds_marts_without_unit_tests():
    from grouprebate.paths import REPO_ROOT

    dag_source = (REPO_ROOT / "dags" / "grouprebate_campaign.py").read_text()
    assert "unit_tests=False" in dag_source


def left_out(args: list[str]) -> str | None:
    """The tag a build leaves out (`--exclude tag:...`), if any."""
    tags = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--exclude"]
    return tags[0].removeprefix("tag:") if tags else None


def builds(invocations) -> list[list[str]]:
    return [args for args, _ in invocations if args[0] == "build"]


@pytest.fixture
def run_id(monkeypatch):
    monkeypatch.setattr(warehouse, "_LAST_SIDE", {})
    monkeypatch.setenv("GROUPREBATE_RUN_ID", "run-1")


def build_dates(config, tmp_path, days, **kwargs) -> None:
    for day in days:
        warehouse.build(config, day, tmp_path / "lake", warehouse=tmp_path / "w.duckdb",
                        **kwargs)


def test_a_run_builds_what_cannot_change_once_on_each_side_of_the_freeze(
        invocations, run_id, config, tmp_path):
    freeze = config.freeze_ds
    days = [freeze + dt.timedelta(days=n) for n in (-3, -2, -1, 0, 1, 2)]
    build_dates(config, tmp_path, days)
    after_draw, frozen = warehouse.AFTER_DRAW_TAG, warehouse.FROZEN_TAG
    assert [left_out(args) for args in builds(invocations)] == \
        [None, after_draw, after_draw, None, frozen, frozen]
    # Back before the freeze (a re-run): the tables hold the draw, so they are built again.
    build_dates(config, tmp_path, [freeze - dt.timedelta(days=2)] * 2 + [freeze] * 2)
    assert [left_out(args) for args in builds(invocations)[-4:]] == \
        [None, after_draw, None, frozen]


def test_builds_are_whole_again_after_a_failure_in_another_run_or_warehouse(
        invocations, run_id, config, tmp_path, monkeypatch):
    before = config.freeze_ds - dt.timedelta(days=5)
    build_dates(config, tmp_path, [before])
    monkeypatch.setenv("GROUPREBATE_RUN_ID", "run-2")
    build_dates(config, tmp_path, [before])
    warehouse.build(config, before, tmp_path / "lake", warehouse=tmp_path / "other.duckdb")

    def failing(args, env, check=True, manifest=None):
        raise warehouse.WarehouseError("dbt build failed")

    recording = warehouse.run_dbt
    monkeypatch.setattr(warehouse, "run_dbt", failing)
    with pytest.raises(warehouse.WarehouseError):
        build_dates(config, tmp_path, [before])
    monkeypatch.setattr(warehouse, "run_dbt", recording)
    build_dates(config, tmp_path, [before])
    assert [left_out(args) for args in builds(invocations)] == [None] * 4


def test_builds_outside_a_run_or_with_a_selection_are_whole(
        invocations, run_id, config, tmp_path, monkeypatch):
    before = config.freeze_ds - dt.timedelta(days=5)
    build_dates(config, tmp_path, [before] * 2, extra_args=["--select", "payouts"])
    monkeypatch.delenv("GROUPREBATE_RUN_ID")
    build_dates(config, tmp_path, [before] * 2)
    assert [left_out(args) for args in builds(invocations)] == [None] * 4


def test_dbt_writes_its_target_and_logs_beside_the_warehouse(tmp_path):
    env = warehouse.dbt_env(tmp_path / "lake", tmp_path / "run" / "warehouse.duckdb")
    assert env["DBT_TARGET_PATH"] == str(tmp_path / "run" / "dbt" / "target")
    assert env["DBT_LOG_PATH"] == str(tmp_path / "run" / "dbt" / "logs")
    given = warehouse.dbt_env(tmp_path / "lake", tmp_path / "w.duckdb", dbt_dir=tmp_path / "d")
    assert given["DBT_TARGET_PATH"] == str(tmp_path / "d" / "target")


def test_postgres_builds_write_to_a_temporary_directory_per_schema_prefix(tmp_path):
    """Outside the repository, and the same for every build of a process and prefix, so the
    parsed manifest (keyed by the dbt environment) still serves every date."""
    first, again, other = (
        warehouse.dbt_env(tmp_path / "lake", target="postgres", schema_prefix=prefix)
        for prefix in ("t1_", "t1_", "t2_"))
    assert first == again
    assert first["DBT_TARGET_PATH"] != other["DBT_TARGET_PATH"]
    assert not first["DBT_TARGET_PATH"].startswith(str(warehouse.DBT_PROJECT_DIR))


def test_a_failure_without_failed_nodes_points_at_the_builds_log(tmp_path):
    nothing_failed = SimpleNamespace(exception=None, result=SimpleNamespace(results=[]))
    log_dir = warehouse.dbt_env(tmp_path / "lake", tmp_path / "w.duckdb")["DBT_LOG_PATH"]
    assert warehouse.describe_failures(nothing_failed, log_dir) == \
        f"see the dbt log ({tmp_path / 'dbt' / 'logs' / 'dbt.log'})"
