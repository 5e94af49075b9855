"""The marts gate: freshness, counts that never shrink after the draw, and distribution
bounds that warn without stopping the date."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pytest

from expectations.gate import QualityGateFailed, results_path, run_gate
from expectations.marts import STAGE, marts_batches

DS = dt.date(2018, 11, 12)


def warehouse(path, run_ds=DS, winners=10, splits=30, groups=100, eligible=20,
              frozen=True, red_packets=(100, 200), summary_rows=1):
    """A warehouse with the two marts the gate reads, as dbt would have built them."""
    if path.exists():
        path.unlink()
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.campaign_summary (run_ds date, is_frozen boolean, "
                    "groups bigint, eligible_groups bigint, winners bigint, splits bigint)")
        for _ in range(summary_rows):
            con.execute("insert into marts.campaign_summary values (?, ?, ?, ?, ?, ?)",
                        [run_ds, frozen, groups, eligible, winners, splits])
        con.execute("create table marts.winner_list (group_id varchar, red_packet_fen bigint)")
        for i, fen in enumerate(red_packets):
            con.execute("insert into marts.winner_list values (?, ?)", [f"g{i}", fen])
    return path


def gate(tmp_path, config, ds=DS, **marts):
    db = warehouse(tmp_path / "warehouse.duckdb", run_ds=marts.pop("run_ds", ds), **marts)
    return run_gate(tmp_path, STAGE, ds, marts_batches(db, tmp_path, config, ds))


def failures(workdir, ds=DS) -> set[tuple[str, str | None, str]]:
    return set(duckdb.sql(
        f"select expectation, column_name, severity from '{results_path(workdir, STAGE, ds)}' "
        "where not success").fetchall())


def test_a_fresh_consistent_build_passes(tmp_path, config):
    summary = gate(tmp_path, config)
    assert (summary.expectations, summary.failed, summary.warnings) == (6, 0, 0)


def test_marts_of_another_date_fail_freshness(tmp_path, config):
    with pytest.raises(QualityGateFailed, match="column run_ds failed"):
        gate(tmp_path, config, run_ds=DS - dt.timedelta(days=1))
    assert failures(tmp_path) == {("expect_column_values_to_be_between", "run_ds", "critical")}


def test_the_summary_is_one_row(tmp_path, config):
    with pytest.raises(QualityGateFailed, match="expect_table_row_count_to_equal"):
        gate(tmp_path, config, summary_rows=2)


@pytest.mark.parametrize("shrunk", ["winners", "splits"])
def test_winners_and_splits_never_shrink_from_one_date_to_the_next(tmp_path, config, shrunk):
    gate(tmp_path, config)
    later = DS + dt.timedelta(days=1)
    with pytest.raises(QualityGateFailed, match=f"column {shrunk} failed"):
        gate(tmp_path, config, ds=later, **{shrunk: 9 if shrunk == "winners" else 29})
    assert failures(tmp_path, later) == {("expect_column_min_to_be_between", shrunk, "critical")}
    assert gate(tmp_path, config, ds=later).failed == 0
    # a re-run of the earlier date compares with the dates before it, not with later ones
    assert gate(tmp_path, config, winners=0, splits=0).failed == 0


def test_distribution_bounds_warn_and_the_date_goes_on(tmp_path, config):
    strict = dataclasses.replace(config, min_eligible_share=0.5,
                                 max_capped_red_packet_share=0.4)
    summary = gate(tmp_path, strict, red_packets=(strict.red_packet_cap_fen, 100))
    assert (summary.failed, summary.warnings) == (0, 2)
    assert failures(tmp_path) == {
        ("expect_column_values_to_be_between", "eligible_share", "warning"),
        ("expect_column_values_to_be_between", "red_packets_at_cap_share", "warning"),
    }
    assert "2 warnings" in str(summary)


def test_the_eligible_share_is_judged_from_the_freeze_only(tmp_path, config):
    strict = dataclasses.replace(config, min_eligible_share=0.5)
    assert gate(tmp_path, strict, frozen=False).warnings == 0
    assert gate(tmp_path, strict, frozen=True).warnings == 1


def test_the_gx_project_names_no_config_variables_file(tmp_path, config):
    """GX re-reads and parses a named config variables file on each lookup of its own
    config; the project uses none, so a context of the run's project names none, before
    and after a gate has run in it."""
    import great_expectations as gx

    from expectations.context import quality_context

    assert quality_context(tmp_path).variables.config_variables_file_path is None
    assert gate(tmp_path, config).failed == 0
    reopened = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    assert reopened.variables.config_variables_file_path is None


def test_data_docs_compile_their_templates_once(tmp_path, config, monkeypatch):
    """GX makes a new Jinja environment for each build of the site; the site's views keep
    the compiled templates in Jinja's bytecode cache, so a later gate compiles none."""
    import jinja2

    assert gate(tmp_path, config).failed == 0  # a new machine compiles them here
    compiled = []
    compile_template = jinja2.Environment.compile

    def counted(self, source, name=None, *args, **kwargs):
        compiled.append(name)
        return compile_template(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    assert gate(tmp_path, config).failed == 0
    assert (tmp_path / "data-docs" / "index.html").is_file()
    assert compiled == []
