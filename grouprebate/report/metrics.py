"""The report's headline numbers through the dbt semantic layer (MetricFlow), so the
report and every `mf query` share one definition of each metric.

MetricFlow compiles a metric request to SQL from the project's semantic manifest; the
SQL runs on the report's own read-only connection to the warehouse (marts.Query), as
`mf query --explain` shows it. MetricFlow's own executor reaches DuckDB through the dbt
adapter, which opens the file for writing and would hold it against the nightly run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig
from grouprebate.warehouse.marts import Query

SEMANTIC_MANIFEST = "semantic_manifest.json"
# The metrics of dbt/models/marts/semantic/_semantic__models.yml the report shows up top.
HEADLINE_METRICS = ("attributed_sales", "pools", "eligible_pools", "red_packets", "paid",
                    "forfeited", "conversion", "claim_rate")


def write_semantic_manifest(config: CampaignConfig, lake: Path, warehouse: Path,
                            target: str = "duckdb") -> Path:
    """The semantic manifest of the dbt project, written to the warehouse's dbt target/.

    The parse is the one a build of this warehouse makes (dbt_runner.parsed_manifest, so a
    `grouprebate run` process parses nothing more); the manifest does not depend on the
    vars, so those of calendar_start (no seed needed) serve every date.
    """
    from dbt.parser.manifest import write_semantic_manifest as write

    from grouprebate.warehouse.dbt_runner import build_env, dbt_env, parsed_manifest
    from grouprebate.warehouse.postgres_load import schema_prefix_from_env

    env = (dbt_env(lake, target="postgres", schema_prefix=schema_prefix_from_env())
           if target == "postgres" else build_env(lake, warehouse))
    manifest = parsed_manifest(config, config.calendar_start, env)
    out = Path(env["DBT_TARGET_PATH"])
    out.mkdir(parents=True, exist_ok=True)
    write(manifest, str(out))
    return out / SEMANTIC_MANIFEST


class _Compiler:
    """What MetricFlowEngine needs of a SQL client to compile a request: the dialect."""

    def __init__(self, target: str) -> None:
        from metricflow.protocols.sql_client import SqlEngine
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer
        from metricflow.sql.render.postgres import PostgresSQLSqlPlanRenderer

        if target == "postgres":
            self.sql_engine_type, self.sql_plan_renderer = (SqlEngine.POSTGRES,
                                                            PostgresSQLSqlPlanRenderer())
        else:
            self.sql_engine_type, self.sql_plan_renderer = (SqlEngine.DUCKDB,
                                                            DuckDbSqlPlanRenderer())


class Metrics:
    """MetricFlow over one semantic manifest: metric requests compiled to SQL and run."""

    def __init__(self, semantic_manifest: Path, query: Query, target: str = "duckdb") -> None:
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import (
            parse_manifest_from_dbt_generated_manifest,
        )
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        manifest = parse_manifest_from_dbt_generated_manifest(semantic_manifest.read_text())
        self._engine = MetricFlowEngine(SemanticManifestLookup(manifest), _Compiler(target))
        self._query = query

    def sql(self, metrics: Sequence[str], group_by: Sequence[str] = ()) -> str:
        """The SQL MetricFlow writes for the request (what `mf query --explain` prints)."""
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        request = MetricFlowQueryRequest.create(
            metric_names=list(metrics), group_by_names=list(group_by) or None)
        return self._engine.explain(request).sql_statement.sql

    def query(self, metrics: Sequence[str], group_by: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Rows of the request, one dict per row keyed by the metric and group-by names."""
        names = [*group_by, *metrics]
        sql = f"select {', '.join(names)} from ({self.sql(metrics, group_by)}) as request"
        if group_by:
            sql += f" order by {', '.join(group_by)}"
        return [dict(zip(names, row, strict=True)) for row in self._query(sql, [])]

    def headline(self) -> dict[str, Any]:
        """The campaign's headline metrics as of the warehouse's run date."""
        (row,) = self.query(HEADLINE_METRICS)
        return row


def read_only_query(warehouse: Path, target: str = "duckdb") -> Query:
    """Queries on the marts that never write: on DuckDB a read-only connection each
    (docs/analysts.md), on Postgres marts.postgres_query."""
    import duckdb

    from grouprebate.warehouse.marts import postgres_query

    if target == "postgres":
        return postgres_query()

    def query(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()

    return query


def as_of(query: Query) -> dt.date:
    """The run date the warehouse was built for (marts.campaign_summary.run_ds)."""
    (row,) = query("select run_ds from marts.campaign_summary", [])
    return row[0]
