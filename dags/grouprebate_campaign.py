"""
### grouprebate — the nightly run of a group full-rebate campaign

One run per campaign date `ds` (docs/rules.md §6), in order, from the config's
`calendar_start` to its `calendar_end`, at 02:00 in the campaign timezone
after the day has ended. Each run:

1. `wait_for_landing` — waits for the day's landing partition (fails clearly on timeout);
2. `ingest_landing` — Spark: contract checks, dedup, quarantine, the lake partition and
   the per-source ingest report;
3. `check_landing` — Great Expectations gate on the day's accepted rows and the bad-row
   rate per source (`quality.max_bad_row_rate`);
4. `attribute_orders` — Spark: attribution and pools as of ds; the draw date freezes them;
5. `check_attribution` — Great Expectations gate: the money identities of the standings;
6. `build_marts` — dbt build (models and tests) as of ds;
7. `check_marts` — Great Expectations gate on the warehouse: freshness, counts that never
   shrink after the draw, distribution bounds (warnings);
8. `choose_calendar_steps` — branches on the campaign config to the steps of the date:
   `publish_seed_digest` before the draw, `publish_draw_audit` on the draw date (with the
   audit bundle `grouprebate verify-draw` reads), `publish_winner_list` on the publish
   date (JSON, CSV and a static page), and from the draw onward `export_payouts`
   (stages the date's payout batches, their control records and data package, as the
   marts number them), `check_exports` (Great Expectations gate on the staged batches,
   their control records and the marts' totals) and `publish_payouts` (copies them,
   write-once, to exports/);
   `build_report` on the publish date and the last date: the analysts' campaign report
   (`reports/`, docs/analysts.md).

Every task reads and overwrites what belongs to its ds only, so any date can be
re-run. Paths come from `GROUPREBATE_LANDING`, `GROUPREBATE_WORKDIR` and
`GROUPREBATE_CONFIG`; Spark from the Airflow connection `spark_grouprebate`
(Spark Connect or a master URL); the warehouse from `GROUPREBATE_DBT_TARGET` (`duckdb`,
the work directory's file, or `postgres`: docs/deploy.md). The rules live in
`spark_jobs/` and `dbt/`, the quality suites in `expectations/`. A failure waiting
cannot fix (a broken gate, a conflict with what was published, a bad config:
`grouprebate.errors.PermanentError`) fails its task at once, retries or not, and stops
everything downstream of it for that date; any other error (a lost Spark connection, a
full disk) keeps the task's retries.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import CronDataIntervalTimetable, chain, dag, task

from grouprebate.alerts import fails_fast, notify_failure
from grouprebate.calendar import (
    BUILD_REPORT,
    EXPORT_PAYOUTS,
    PUBLISH_DRAW_AUDIT,
    PUBLISH_SEED_DIGEST,
    PUBLISH_WINNER_LIST,
    RUN_AT,
    logical_date_of,
)
from grouprebate.config import load_config
from grouprebate.paths import config_path

CONFIG = load_config(config_path(), need_seed=False)
SPARK_CONN_ID = "spark_grouprebate"

def _ds(logical_date: dt.datetime) -> dt.date:
    """The run's ds: the campaign-timezone date of its logical date (the interval start)."""
    from grouprebate.calendar import run_date

    return run_date(logical_date, CONFIG)


def _gate(stage: str, spark, logical_date: dt.datetime, batches_of) -> str:
    """Run a Spark stage's quality gate on what `batches_of(spark, paths, ds)` reads;
    raises QualityGateFailed. The Data Docs index is left to the date's later gates (marts,
    exports), and to a failing gate."""
    from expectations.gate import run_gate
    from grouprebate.paths import RunPaths
    from spark_jobs.session import configure

    paths, ds = RunPaths.from_env(), _ds(logical_date)
    return str(run_gate(paths.workdir, stage, ds, batches_of(configure(spark), paths, ds),
                        index=False))


@dag(
    dag_id="grouprebate_campaign",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable(f"{RUN_AT.minute} {RUN_AT.hour} * * *",
                                       timezone=CONFIG.timezone),
    start_date=logical_date_of(CONFIG.calendar_start, CONFIG),
    end_date=logical_date_of(CONFIG.calendar_end, CONFIG),
    catchup=True,
    max_active_runs=1,
    tags=["grouprebate", CONFIG.campaign_id],
    default_args={
        "depends_on_past": True,
        "retries": int(os.environ.get("GROUPREBATE_RETRIES", "2")),
        "retry_delay": dt.timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(hours=1),
        "on_failure_callback": notify_failure,
    },
)
def grouprebate_campaign():
    @task.sensor(
        poke_interval=300,
        timeout=int(os.environ.get("GROUPREBATE_LANDING_TIMEOUT", str(6 * 3600))),
        mode="reschedule",
    )
    def wait_for_landing(logical_date=None) -> bool:
        from grouprebate.landing import partition_arrived
        from grouprebate.paths import RunPaths

        return partition_arrived(RunPaths.from_env().landing, _ds(logical_date))

    @task.pyspark(conn_id=SPARK_CONN_ID)
    @fails_fast
    def ingest_landing(spark=None, logical_date=None) -> None:
        from grouprebate.paths import RunPaths
        from spark_jobs.ingest_landing import ingest
        from spark_jobs.session import configure

        paths = RunPaths.from_env()
        ingest(configure(spark), str(paths.landing), str(paths.lake), CONFIG,
               _ds(logical_date))

    @task.pyspark(conn_id=SPARK_CONN_ID)
    @fails_fast
    def attribute_orders(spark=None, logical_date=None) -> str:
        from grouprebate.paths import RunPaths
        from spark_jobs.attribute_orders import attribute
        from spark_jobs.session import configure

        paths = RunPaths.from_env()
        return attribute(configure(spark), str(paths.lake), CONFIG, _ds(logical_date))

    @task.pyspark(conn_id=SPARK_CONN_ID)
    @fails_fast
    def check_landing(spark=None, logical_date=None) -> str:
        from expectations.landing import landing_batches

        return _gate("landing", spark, logical_date, lambda session, paths, ds: landing_batches(
            session, str(paths.lake), CONFIG, ds))

    @task.pyspark(conn_id=SPARK_CONN_ID)
    @fails_fast
    def check_attribution(spark=None, logical_date=None) -> str:
        from expectations.attribution import attribution_batches

        return _gate("attribution", spark, logical_date,
                     lambda session, paths, ds: attribution_batches(
                         session, str(paths.lake), CONFIG, ds))

    @task
    @fails_fast
    def build_marts(logical_date=None) -> None:
        from grouprebate.calendar import phase
        from grouprebate.paths import RunPaths
        from grouprebate.warehouse.dbt_runner import build
        from grouprebate.warehouse.marts import warehouse_target

        paths = RunPaths.from_env()
        ds = _ds(logical_date)
        config = load_config(config_path(), need_seed=phase(CONFIG, ds).has_drawn)
        build(config, ds, paths.lake, target=warehouse_target(), warehouse=paths.warehouse,
              unit_tests=False,
              extra_args=["--no-write-json"])

    @task
    @fails_fast
    def check_marts(logical_date=None) -> str:
        from expectations.gate import run_gate
        from expectations.marts import STAGE, marts_batches
        from grouprebate.paths import RunPaths

        paths, ds = RunPaths.from_env(), _ds(logical_date)
        return str(run_gate(paths.workdir, STAGE, ds,
                            marts_batches(paths.warehouse, paths.workdir, CONFIG, ds)))

    @task.branch
    def choose_calendar_steps(logical_date=None) -> list[str]:
        from grouprebate.calendar import steps_for

        return steps_for(CONFIG, _ds(logical_date))

    @task(task_id=PUBLISH_SEED_DIGEST)
    @fails_fast
    def publish_seed_digest() -> str:
        from grouprebate.paths import RunPaths
        from grouprebate.publish.draw import publish_seed_digest as publish

        return str(publish(load_config(config_path()), RunPaths.from_env().exports))

    @task(task_id=PUBLISH_DRAW_AUDIT)
    @fails_fast
    def publish_draw_audit() -> str:
        from grouprebate.paths import RunPaths
        from grouprebate.publish.draw import publish_draw_audit as publish
        from grouprebate.publish.draw_bundle import publish_draw_bundle
        from grouprebate.warehouse.marts import warehouse_query

        paths = RunPaths.from_env()
        config, query = load_config(config_path()), warehouse_query(paths.warehouse)
        # the bundle's public part names groups by pseudonym: the key is needed from here on
        publish_draw_bundle(query, config, config.pseudonym_key(), paths.exports)
        return str(publish(query, config, paths.exports))

    @task(task_id=PUBLISH_WINNER_LIST)
    @fails_fast
    def publish_winner_list() -> str:
        from grouprebate.paths import RunPaths
        from grouprebate.publish.winner_list import publish_readable_winner_list
        from grouprebate.publish.winner_list import publish_winner_list as publish
        from grouprebate.warehouse.marts import warehouse_query

        paths = RunPaths.from_env()
        config, query = load_config(config_path()), warehouse_query(paths.warehouse)
        publish_readable_winner_list(query, config, config.pseudonym_key(), paths.exports)
        return str(publish(query, config, config.pseudonym_key(), paths.exports))

    @task(task_id=EXPORT_PAYOUTS)
    @fails_fast
    def export_payouts(logical_date=None) -> dict:
        from grouprebate.paths import RunPaths
        from grouprebate.publish.payouts import stage_payouts
        from grouprebate.warehouse.marts import warehouse_query

        paths = RunPaths.from_env()
        return stage_payouts(warehouse_query(paths.warehouse), CONFIG, _ds(logical_date),
                             paths.staging, paths.exports)

    @task
    @fails_fast
    def check_exports(logical_date=None) -> str:
        from expectations.exports import export_batches
        from expectations.gate import run_gate
        from grouprebate.paths import RunPaths
        from grouprebate.warehouse.marts import warehouse_query

        paths, ds = RunPaths.from_env(), _ds(logical_date)
        return str(run_gate(paths.workdir, "exports", ds, export_batches(
            str(paths.staging), str(paths.exports), CONFIG, ds,
            warehouse_query(paths.warehouse))))

    @task
    @fails_fast
    def publish_payouts(logical_date=None) -> dict:
        from grouprebate.paths import RunPaths
        from grouprebate.publish.payouts import publish_payouts as publish

        paths = RunPaths.from_env()
        return publish(paths.staging, CONFIG, _ds(logical_date), paths.exports)

    @task(task_id=BUILD_REPORT)
    @fails_fast
    def build_report(logical_date=None) -> str:
        from grouprebate.paths import RunPaths
        from grouprebate.report.build import build_report as build

        config = load_config(config_path(), need_seed=False)
        return str(build(RunPaths.from_env().workdir, config, config.pseudonym_key(),
                         _ds(logical_date)))

    steps = choose_calendar_steps()
    chain(
        wait_for_landing(),
        ingest_landing(),
        check_landing(),
        attribute_orders(),
        check_attribution(),
        build_marts(),
        check_marts(),
        steps,
    )
    staged = export_payouts()
    steps >> [publish_seed_digest(), publish_draw_audit(), publish_winner_list(), staged,
              build_report()]
    chain(staged, check_exports(), publish_payouts())


campaign_dag = grouprebate_campaign()
