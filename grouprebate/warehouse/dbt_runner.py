"""dbt driven from Python: the campaign vars, one in-process `dbt build` per run date.

The rules' parameters live in the campaign config only; dbt gets them as --vars built
here. The draw seed is secret until the draw, so only runs of the draw's phase and
after receive it (grouprebate.calendar).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grouprebate.calendar import RUN_AT, phase
from grouprebate.config import CampaignConfig, ConfigError
from grouprebate.paths import REPO_ROOT
from grouprebate.publish.draw import seed_digest
from grouprebate.warehouse import WarehouseError
from grouprebate.warehouse.marts import TARGETS

DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DEFAULT_LAKE = REPO_ROOT / "work" / "lake"
DEFAULT_WAREHOUSE = REPO_ROOT / "work" / "warehouse.duckdb"


def build_vars(config: CampaignConfig, ds: dt.date) -> dict[str, Any]:
    """The dbt --vars for the run of date ds (rule parameters from the campaign config).

    draw_seed is included only from the freeze date on: before the draw it is secret
    and the draw models yield no winners without it. Its SHA-256 is public from the
    start (docs/rules.md §4) and is always passed when the seed is known.
    """
    result: dict[str, Any] = {
        "ds": ds.isoformat(),
        "campaign_id": config.campaign_id,
        "timezone": config.timezone,
        "freeze_ds": config.freeze_ds.isoformat(),
        "draw_open": config.draw_open.isoformat(),
        "claim_window_hours": config.claim_window_hours,
        "payout_sla_hours": config.payout_sla_hours,
        "red_packet_cap_fen": config.red_packet_cap_fen,
        "draw_winner_count": config.draw_winner_count,
        "calendar_end": config.calendar_end.isoformat(),
        "payout_max_rows_per_file": config.payout_max_rows_per_file,
        "nightly_run_at": RUN_AT.isoformat(),
    }
    if config.draw_seed:
        result["draw_seed_sha256"] = seed_digest(config.draw_seed)
    if phase(config, ds).has_drawn:
        if not config.draw_seed:
            raise ConfigError(
                f"the run for {ds} is on or after the draw ({config.freeze_ds}) and needs "
                "the draw seed; load the campaign config with its seed (draw.seed or the "
                "environment variable named by draw.seed_env)"
            )
        result["draw_seed"] = config.draw_seed
    return result


def dbt_env(
    lake: str | Path,
    warehouse: str | Path | None = None,
    target: str = "duckdb",
    schema_prefix: str | None = None,
    dbt_dir: str | Path | None = None,
) -> dict[str, str]:
    """Environment variables the dbt project reads (profiles.yml and the sources), and
    where dbt writes its target/ and logs/ (dbt_work_dir)."""
    if target not in TARGETS:
        raise WarehouseError(f"unknown dbt target {target!r}; use one of {', '.join(TARGETS)}")
    work = Path(dbt_dir).resolve() if dbt_dir is not None else dbt_work_dir(
        warehouse if target == "duckdb" else None, schema_prefix)
    env = {
        "GROUPREBATE_LAKE": str(Path(lake).resolve()),
        "GROUPREBATE_DBT_TARGET": target,
        "DO_NOT_TRACK": "1",
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        # <logs>/dbt.log keeps each node's result and every error; its default debug
        # level (every statement and event) costs about 10% of a nightly build.
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "info"),
    }
    if warehouse is not None:
        env["GROUPREBATE_WAREHOUSE"] = str(Path(warehouse).resolve())
    if schema_prefix is not None:
        env["GROUPREBATE_SCHEMA_PREFIX"] = schema_prefix
    return env


_TEMP_DBT_DIRS: dict[str | None, Path] = {}
DUCKDB_SIDE_FILES = (".wal",)


def building_dir(warehouse: str | Path) -> Path:
    """Where a DuckDB build writes its copy of the warehouse before it replaces the file.

    Beside the file, so the swap is a rename within one file system; the copy keeps the
    file's name, since DuckDB names the database (and dbt every relation) after it.
    """
    path = Path(warehouse).resolve()
    return path.parent / f".{path.name}.building"


@contextmanager
def _built_aside(warehouse: Path) -> Iterator[Path]:
    """A copy of the warehouse to build in, put in place of the file in one rename when
    the build succeeds: readers see the marts of the last successful build, whole, never
    a build half done. A failed or killed build leaves the file as it was."""
    folder = building_dir(warehouse)
    shutil.rmtree(folder, ignore_errors=True)  # a killed build's copy and its WAL
    folder.mkdir(parents=True)
    building = folder / warehouse.name
    for suffix in ("", *DUCKDB_SIDE_FILES):
        source = warehouse.with_name(warehouse.name + suffix)
        if source.exists():
            shutil.copyfile(source, building.with_name(building.name + suffix))
    try:
        yield building
        if building.exists():
            building.chmod(0o600)  # the marts hold every member's money: owner only
            os.replace(building, warehouse)
            for suffix in DUCKDB_SIDE_FILES:
                warehouse.with_name(warehouse.name + suffix).unlink(missing_ok=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def dbt_work_dir(warehouse: str | Path | None, schema_prefix: str | None = None) -> Path:
    """Where dbt writes target/ (compiled SQL, manifest, run results) and logs/ for a build.

    Beside the DuckDB file (`<dir of warehouse>/dbt`), i.e. in the run's work directory,
    never in the repository: two runs never share them, and the compiled SQL, which holds
    the draw seed from the freeze date on, stays with the run. Without a warehouse file
    (the postgres target), one temporary directory per process and schema prefix.
    """
    if warehouse is not None:
        return Path(warehouse).resolve().parent / "dbt"
    if schema_prefix not in _TEMP_DBT_DIRS:
        _TEMP_DBT_DIRS[schema_prefix] = Path(tempfile.mkdtemp(prefix="grouprebate-dbt-"))
    return _TEMP_DBT_DIRS[schema_prefix]


@contextmanager
def _environ(overrides: Mapping[str, str]) -> Iterator[None]:
    """dbt's env_var() reads os.environ; set the overrides for one invocation only."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_dbt(
    args: Sequence[str], env: Mapping[str, str], check: bool = True, manifest: Any = None,
    project_dir: str | Path = DBT_PROJECT_DIR,
) -> Any:
    """One in-process dbt invocation (dbtRunner) on this project; returns its result.

    With check=True a failed invocation raises WarehouseError naming the failed nodes.
    `manifest` (the result of a `dbt parse` with the same project, lake and profile)
    skips parsing; the vars still apply, as they are rendered when models compile.
    `project_dir` is for tests and benchmarks that build a modified copy of the project.
    """
    from dbt.cli.main import dbtRunner

    full_args = [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    with _environ(env):
        try:
            result = dbtRunner(manifest=manifest).invoke(full_args)
        finally:
            release_duckdb()
    if check and not result.success:
        raise WarehouseError(
            f"dbt {' '.join(args[:1])} failed: {describe_failures(result, _log_dir(args, env))}")
    return result


def release_duckdb() -> None:
    """Close the DuckDB file that dbt-duckdb keeps open in this process after an invocation.

    Otherwise the file stays locked for other processes, and this process cannot open it
    read-only (publish and export read the marts right after the build). dbt-duckdb keeps
    it open for the life of the process (its profile option `keep_open`, true by default);
    `close_all_connections()` lets go of its one environment, whose database is closed as
    it is freed: its maintainers' way for programmatic invocations (duckdb/dbt-duckdb#616).
    `keep_open: false` in profiles.yml releases the file too, but closes and reopens it
    whenever no node is running, dozens of times a build: about a quarter of a build
    (docs/warehouse.md). tests/test_dbt_project.py checks that another process can open
    the file after a build.
    """
    try:
        from dbt.adapters.duckdb import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing to release
        return
    DuckDBConnectionManager.close_all_connections()


def _log_dir(args: Sequence[str], env: Mapping[str, str]) -> str:
    """The log directory of an invocation: --log-path if given, else DBT_LOG_PATH."""
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "--log-path":
            return value
    return env.get("DBT_LOG_PATH", "logs")


def describe_failures(result: Any, log_dir: str | Path = "logs") -> str:
    """The failed or erroring nodes of a dbt result, or the exception, in one line."""
    if result.exception is not None:
        return str(result.exception)
    failed = [
        f"{r.node.name} ({r.status}: {(r.message or '').strip()})"
        for r in getattr(result.result, "results", []) or []
        if str(r.status) in ("error", "fail", "runtime error")
    ]
    return "; ".join(failed) or f"see the dbt log ({Path(log_dir) / 'dbt.log'})"


_PARSED: dict[tuple, Any] = {}


def _project_fingerprint() -> tuple:
    """Names, sizes and mtimes of the dbt project's files: any edit means a new parse."""
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        files += (p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return tuple(sorted(
        (str(p.relative_to(DBT_PROJECT_DIR)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in files
    ))


def parsed_manifest(config: CampaignConfig, ds: dt.date, env: Mapping[str, str]) -> Any:
    """One `dbt parse` per process for a given project, profile environment and lake.

    The vars change every run date, which defeats dbt's partial parsing (a full parse
    costs seconds); they are rendered again when the models compile, so the manifest of
    one parse serves every later date of a run (`grouprebate run` builds 35 in one process).
    """
    key = (tuple(sorted(env.items())), _project_fingerprint())
    if key not in _PARSED:
        _PARSED.clear()
        result = run_dbt(["parse", "--quiet", "--vars", json.dumps(build_vars(config, ds))], env)
        _PARSED[key] = result.result
    return _PARSED[key]


# The models a build may leave out when an earlier build of the same run, on the same
# side of the freeze date, made them: before it, the after-draw models (fed only by the
# draw's winners) are empty, as no run before it has the seed; from it on, the frozen
# models (the frozen snapshot and the draw) never change. tests/test_dbt_project.py.
AFTER_DRAW_TAG = "after_draw"
FROZEN_TAG = "frozen"
# Per run and warehouse: whether its last build ran from the freeze date on (True) or
# before it (False); absent after a failure, and until the run's first build.
_LAST_SIDE: dict[tuple, bool] = {}
_SELECTING = {"--select", "-s", "--models", "-m", "--exclude", "--selector"}


def _run_key(env: Mapping[str, str]) -> tuple | None:
    """The warehouse of one `grouprebate run` (which sets GROUPREBATE_RUN_ID), else None."""
    run_id = os.environ.get("GROUPREBATE_RUN_ID")
    if not run_id:
        return None
    return run_id, tuple(sorted(env.items())), _project_fingerprint()


def build(
    config: CampaignConfig,
    ds: dt.date,
    lake: str | Path,
    *,
    target: str = "duckdb",
    warehouse: str | Path | None = None,
    schema_prefix: str | None = None,
    extra_args: Sequence[str] = (),
    manifest: Any = None,
    unit_tests: bool = True,
    dbt_dir: str | Path | None = None,
) -> Any:
    """`dbt build` (models, data tests and, unless told not to, unit tests) for run date ds.

    For the postgres target the lake is first copied into the `lake` schema. Without a
    `manifest` the project is parsed once per process (parsed_manifest). unit_tests=False
    is for the nightly runs: unit tests pin the SQL logic on fixed rows, which no run date
    changes, so they run in `make test` and CI, as dbt advises for production builds;
    the data tests (keys, money invariants) still run on every date.

    Within one `grouprebate run`, a date leaves out the models that the run's previous
    build, on the same side of the freeze date, made and that cannot have changed since
    (AFTER_DRAW_TAG before the freeze, FROZEN_TAG from it on), and the tests that read
    nothing else. Any other build is whole.

    On DuckDB the build runs in a copy of the file that replaces it only when the build
    succeeds (_built_aside): the marts readers see are always those of one whole build.

    dbt writes its target/ and logs/ under `dbt_dir`, by default beside the DuckDB file
    (dbt_work_dir); on the postgres target, by default in a temporary directory.
    """
    if target == "duckdb":
        path = Path(warehouse or DEFAULT_WAREHOUSE).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        with _built_aside(path) as building:
            return _build(config, ds, lake, target, building, schema_prefix, extra_args,
                          manifest, unit_tests, dbt_dir or dbt_work_dir(path))
    from grouprebate.warehouse.postgres_load import (
        load_lake_into_postgres,
        schema_prefix_from_env,
    )

    schema_prefix = schema_prefix_from_env() if schema_prefix is None else schema_prefix
    load_lake_into_postgres(lake, schema_prefix=schema_prefix)
    return _build(config, ds, lake, target, None, schema_prefix, extra_args, manifest,
                  unit_tests, dbt_dir)


def build_env(lake: str | Path, warehouse: str | Path) -> dict[str, str]:
    """The dbt environment of a DuckDB build() of this warehouse (it builds in a copy):
    a parse made with it serves the builds (parsed_manifest)."""
    path = Path(warehouse).resolve()
    return dbt_env(lake, building_dir(path) / path.name, dbt_dir=dbt_work_dir(path))


def _build(config: CampaignConfig, ds: dt.date, lake: str | Path, target: str,
           warehouse: Path | None, schema_prefix: str | None, extra_args: Sequence[str],
           manifest: Any, unit_tests: bool, dbt_dir: str | Path | None) -> Any:
    env = dbt_env(lake, warehouse, target, schema_prefix, dbt_dir)
    from_freeze = phase(config, ds).has_drawn
    run_key = _run_key(env) if not _SELECTING.intersection(extra_args) else None
    unchanged = run_key is not None and _LAST_SIDE.pop(run_key, None) == from_freeze
    left_out = FROZEN_TAG if from_freeze else AFTER_DRAW_TAG
    args = ["build", "--target", target, "--vars", json.dumps(build_vars(config, ds)),
            *([] if unit_tests else ["--exclude-resource-type", "unit_test"]),
            # cautious: a test that also reads a model being built still runs
            *(["--exclude", f"tag:{left_out}", "--indirect-selection", "cautious"]
              if unchanged else []), *extra_args]
    if manifest is None:
        manifest = parsed_manifest(config, ds, env)
    result = run_dbt(args, env, manifest=manifest)
    if run_key is not None:
        _LAST_SIDE[run_key] = from_freeze
    return result


def generate_docs(
    config: CampaignConfig, ds: dt.date, lake: str | Path, *,
    warehouse: str | Path | None = None, extra_args: Sequence[str] = (),
    dbt_dir: str | Path | None = None,
) -> Any:
    """`dbt docs generate` against a built DuckDB warehouse (models compile with the vars).

    The site (index.html, manifest.json, catalog.json) is written to the target/ of
    dbt_work_dir, beside the warehouse unless `dbt_dir` says otherwise.
    """
    env = dbt_env(lake, warehouse or DEFAULT_WAREHOUSE, dbt_dir=dbt_dir)
    args = ["docs", "generate", "--vars", json.dumps(build_vars(config, ds)), *extra_args]
    return run_dbt(args, env)
