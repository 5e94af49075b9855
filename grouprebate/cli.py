"""The `grouprebate` command line: one entry point for people and for the DAG."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from grouprebate.bench.floor import PROBE_ROWS
from grouprebate.bench.run import DEFAULT_TIERS, RESULTS_DIR, TIERS
from grouprebate.config import ConfigError, load_config
from grouprebate.landing import LandingError, stray_files, validate_landing
from grouprebate.paths import DEFAULT_CONFIG


def _generate(args: argparse.Namespace) -> int:
    from grouprebate.demo.generator import generate

    config = load_config(args.config, need_seed=False)
    summary = generate(Path(args.out), groups=args.groups, seed=args.seed,
                       gzip=args.gzip, config=config, skew=args.skew)
    for source, rows in summary["rows"].items():
        print(f"{source:12} {rows:>12,} rows  {summary['bad_lines'].get(source, 0):>8,} bad")
    print(f"{'total':12} {summary['total_rows']:>12,} rows in {summary['files']} files "
          f"-> {args.out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    config = load_config(args.config, need_seed=False)
    failed = False
    for source, partitions in validate_landing(Path(args.landing), config).items():
        for ds, report in sorted(partitions.items()):
            over = not report.passes(config.max_bad_row_rate)
            failed |= over
            flag = "  OVER THRESHOLD" if over else ""
            print(f"{source:12} ds={ds}  rows={report.rows:<9} bad={report.bad:<6} "
                  f"duplicates={report.duplicates:<6} rate={report.rate():.4%}{flag}")
    for path, why in stray_files(Path(args.landing)):
        print(f"stray        {path}: {why} (not read)")
    if failed:
        print(f"error: some partitions exceed quality.max_bad_row_rate="
              f"{config.max_bad_row_rate:.2%}", file=sys.stderr)
    return 1 if failed else 0


# `grouprebate run` refused because another run holds the work directory: nothing was
# done, so a scheduler may simply try again later.
EXIT_WORKDIR_IN_USE = 3


def _run(args: argparse.Namespace) -> int:
    from grouprebate.local.connect_server import ConnectServerFailed
    from grouprebate.local.locks import WorkdirInUse
    from grouprebate.local.run import RunFailed, run_campaign, summarize

    through = dt.date.fromisoformat(args.through) if args.through else None
    start = dt.date.fromisoformat(args.start) if args.start else None
    if args.demo:
        _use_demo_secrets(load_config(args.config, need_seed=False))
    # Both secrets before anything starts: never a known fallback, never a failure
    # halfway through the calendar (the key is first needed on the publish date).
    load_config(args.config).pseudonym_key()
    try:
        results = run_campaign(Path(args.landing), Path(args.config), Path(args.workdir),
                               through=through, start=start, rerun=args.rerun)
    except WorkdirInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKDIR_IN_USE
    except (RunFailed, ConnectServerFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summarize(Path(args.workdir), results))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from grouprebate.bench.run import run_bench

    tiers = args.tier or list(DEFAULT_TIERS)
    sizes = [f"--groups {args.groups}"] if args.groups else [f"--tier {t}" for t in tiers]
    options = {"--seed": (args.seed, 2018), "--config": (args.config, str(DEFAULT_CONFIG)),
               "--floor-rows": (args.floor_rows, PROBE_ROWS)}
    flags = [flag for flag, on in (("--skew", args.skew),
                                   ("--attribution-only", args.attribution_only)) if on]
    command = " ".join(["grouprebate bench", *sizes, *flags,
                        f"--workdir {args.workdir}",
                        *(f"{flag} {value}" for flag, (value, default) in options.items()
                          if value != default)])
    return run_bench(tiers, Path(args.workdir), skew=args.skew, groups=args.groups,
                     seed=args.seed, config_path=Path(args.config),
                     results_dir=Path(args.results), floor_rows=args.floor_rows,
                     attribution_only=args.attribution_only, command=command)


def _verify_draw(args: argparse.Namespace) -> int:
    """0 when the bundle's winners are the draw's, 1 at the first difference, 2 when the
    folder is not a readable bundle."""
    from grouprebate.verify_draw import MalformedBundle, find_group, verify_bundle

    bundle = Path(args.bundle)
    try:
        verdict = verify_bundle(bundle)
        mine = [find_group(bundle, group_id) for group_id in args.group]
    except MalformedBundle as exc:
        print(f"error: not a readable draw bundle: {exc}", file=sys.stderr)
        return 2
    print(verdict.message)
    for line in mine:
        print(line)
    return 0 if verdict.matches else 1


def _report(args: argparse.Namespace) -> int:
    """The campaign report of a work directory's warehouse (docs/analysts.md)."""
    from grouprebate.report.build import build_report

    ds = dt.date.fromisoformat(args.ds) if args.ds else None
    config = load_config(args.config, need_seed=False)  # the report reads no seed
    print(build_report(Path(args.workdir), config, config.pseudonym_key(), ds))
    return 0


# Public values, for the demo campaign only: anyone can recompute its draw and pseudonyms.
DEMO_SECRETS = {"draw seed": "demo-draw-seed", "pseudonym key": "demo-pseudonym-key"}


def _use_demo_secrets(config) -> None:
    """Put the demo secrets in the variables the config names, and say so loudly."""
    os.environ[config.draw_seed_env] = DEMO_SECRETS["draw seed"]
    os.environ[config.pseudonym_key_env] = DEMO_SECRETS["pseudonym key"]
    print(f"DEMO RUN: the draw seed and the pseudonym key are the public demo values "
          f"({config.draw_seed_env}, {config.pseudonym_key_env}); never use --demo for a "
          f"real campaign", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grouprebate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a synthetic, reproducible landing zone")
    gen.add_argument("--out", required=True, help="landing zone directory to (over)write")
    gen.add_argument("--groups", type=int, required=True, help="number of groups")
    gen.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    gen.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")
    gen.add_argument("--skew", action="store_true",
                     help="one hot item in about a quarter of the shares, and one (group, "
                          "item) pair shared all through the peak day (the benchmark's skew)")
    gen.add_argument("--config", default=str(DEFAULT_CONFIG), help="campaign config YAML")
    gen.set_defaults(func=_generate)

    val = sub.add_parser("validate", help="check a landing zone against the input contract")
    val.add_argument("--landing", required=True, help="landing zone directory")
    val.add_argument("--config", default=str(DEFAULT_CONFIG), help="campaign config YAML")
    val.set_defaults(func=_validate)

    run = sub.add_parser("run", help="run the nightly DAG locally over the calendar dates, "
                                     "resuming after the last date that succeeded")
    run.add_argument("--landing", required=True, help="landing zone directory")
    run.add_argument("--config", default=str(DEFAULT_CONFIG), help="campaign config YAML")
    run.add_argument("--workdir", required=True,
                     help="where Airflow, the lake, the warehouse and the exports live")
    run.add_argument("--from", dest="start",
                     help="first run date YYYY-MM-DD: runs exactly --from..--through, dates "
                          "that succeeded included; earlier dates must have run before "
                          "(default: the first date not yet successful)")
    run.add_argument("--through", help="last run date YYYY-MM-DD (default: calendar end)")
    run.add_argument("--demo", action="store_true",
                     help="use the public demo secrets (draw seed, pseudonym key); without "
                          "it the run refuses to start unless both are set")
    run.add_argument("--rerun", action="store_true",
                     help="run every date again, those that succeeded included")
    run.set_defaults(func=_run)

    verify = sub.add_parser(
        "verify-draw", help="re-run the draw from its audit bundle alone and say whether "
                            "its winners match (docs/draw.md); exit 0 match, 1 mismatch")
    verify.add_argument("bundle", metavar="BUNDLE_DIR",
                        help="the bundle folder (holding public/ and, for auditors, internal/)")
    verify.add_argument("--group", action="append", default=[], metavar="GROUP_ID",
                        help="also show where a group whose id you know stands in the draw "
                             "(its digest, rank and result); repeat for several")
    verify.set_defaults(func=_verify_draw)

    report = sub.add_parser("report", help="the campaign report (charts, headline metrics, "
                                           "sharer leaderboard) as one offline HTML page and "
                                           "SVG charts under WORKDIR/reports/")
    report.add_argument("--workdir", required=True, help="the run's work directory")
    report.add_argument("--ds", help="run date YYYY-MM-DD the warehouse was built for "
                                     "(default: that date, whatever it is)")
    report.add_argument("--config", default=str(DEFAULT_CONFIG), help="campaign config YAML")
    report.set_defaults(func=_report)

    bench = sub.add_parser("bench", help="time the stages on generated campaigns of 1M-100M "
                                         "orders beside a DuckDB peer; writes "
                                         "benchmarks/results/latest.json")
    bench.add_argument("--tier", action="append", choices=list(TIERS),
                       help="orders in the campaign; repeat for several (default: "
                            f"{' and '.join(DEFAULT_TIERS)})")
    bench.add_argument("--groups", type=int,
                       help="a campaign of this many groups instead of the tiers (small runs)")
    bench.add_argument("--skew", action="store_true",
                       help="also time the attribution on a skewed campaign of the first tier")
    bench.add_argument("--attribution-only", action="store_true",
                       help="stop each tier after the two attributions are compared (no "
                            "quality gates, dbt builds or exports): a quick check")
    bench.add_argument("--workdir", default="work/bench",
                       help="where campaigns are generated (and reused) and the stages run")
    bench.add_argument("--seed", type=int, default=2018, help="the campaigns' random seed")
    bench.add_argument("--config", default=str(DEFAULT_CONFIG), help="campaign config YAML")
    bench.add_argument("--results", default=str(RESULTS_DIR),
                       help="where latest.json, its dated copy and README.md go")
    bench.add_argument("--floor-rows", type=int, default=PROBE_ROWS,
                       help="rows of the DuckDB floor probe (scan, hash join, aggregation)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, LandingError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
