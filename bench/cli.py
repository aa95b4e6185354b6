"""bench/run's command line: parse the options, run each backend, write and print the report."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import soak_report
from bench.baseline import prepare_baseline
from bench.chart import draw_chart
from bench.config import COMPARED_SCENARIOS, RESULTS, ROOT, SCENARIOS, BenchError, Options
from bench.environment import build_serving_environment
from bench.meta import describe_run
from bench.report import markdown, print_table, problems
from bench.runner import bench_backend
from bench.soak import soak_backend
from bench.soak_figures import parse_duration
from bench.wrk import check_wrk


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Load-test orders-app against a bare Litestar ceiling with wrk (see docs/bench.md).",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (default 1: the server needs the cores)"
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per scenario (default 3)")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per scenario; medians are reported (default 3)"
    )
    parser.add_argument("--scenarios", default="S0,S1,S2,S3,S4", help="comma-separated subset (default all)")
    parser.add_argument("--no-scaling", action="store_true", help="skip S2 with twice the workers")
    peer = parser.add_mutually_exclusive_group()
    peer.add_argument(
        "--no-peer", action="store_true", help="do not serve the peer (bench/peer) beside the app"
    )
    peer.add_argument(
        "--peer-only",
        action="store_true",
        help="only the comparison with the peer: S0-S3, no S4 and no scaling run",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ORDERS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="server on which a throwaway database is created and dropped",
    )
    parser.add_argument(
        "--metrics-cost",
        action="store_true",
        help="also run S2 against a server with METRICS_ENABLED=false, interleaved, and report the cost",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also serve the app from DIR, a git worktree of an earlier commit, on a copy of our seeded "
        "database, and report S1-S3 as ours/baseline (its environment is built from DIR's uv.lock; "
        "see docs/bench.md)",
    )
    parser.add_argument(
        "--soak",
        metavar="DURATION",
        help="instead of the scenarios: S4 paced at half its measured peak for DURATION (30m, 120s), "
        "sampled every minute; PostgreSQL on a server the benchmark starts itself (docs/bench.md, Soak)",
    )
    parser.add_argument("--out", type=Path, help="results directory (default bench/results/<UTC time>)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI mode: 2 s per scenario, 1 run, no warm-up or scaling; "
        "fails only on errors, non-2xx responses or a crash",
    )
    args = parser.parse_args(argv)
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    scenarios = [name for name in SCENARIOS if name in scenarios]
    if args.peer_only:
        scenarios = [name for name in scenarios if name == "S0" or name in COMPARED_SCENARIOS]
    soak_seconds = None
    if args.soak is not None:
        try:
            soak_seconds = parse_duration(args.soak)
        except ValueError as error:
            parser.error(f"--soak: {error}")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if soak_seconds is not None:
        stamp += "-soak"
    options = Options(
        backends=["sqlite", "postgres"] if args.backend == "both" else [args.backend],
        workers=args.workers,
        connections=args.connections,
        threads=args.threads,
        duration=args.duration,
        warmup=args.warmup,
        runs=args.runs,
        scenarios=scenarios,
        scaling=not (args.no_scaling or args.peer_only),
        postgres_url=args.postgres_url,
        out=args.out or RESULTS / (stamp + ("-smoke" if args.smoke else "")),
        smoke=args.smoke,
        peer=not args.no_peer,
        metrics_cost=args.metrics_cost,
        baseline=args.baseline,
        soak_seconds=soak_seconds,
    )
    if args.smoke:
        options.duration, options.runs, options.warmup, options.scaling = 2, 1, 0, False
    return options


def finish_soak(report: dict[str, Any], out: Path) -> int:
    soak_report.write(report, out)
    soak_report.print_goals(report)
    found = soak_report.failed_goals(report)
    for problem in found:
        print(f"bench: FAIL {problem}", file=sys.stderr)
    return 1 if found else 0


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    # SystemExit unwinds through the `finally` blocks: servers stopped, throwaway database dropped.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # A shell starts background jobs with SIGINT ignored; Ctrl-C / kill -INT must still clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        wrk_version = check_wrk()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    options.out.mkdir(parents=True, exist_ok=True)
    # The servers' environments live only as long as the run.
    scratch = Path(tempfile.mkdtemp(prefix="orders-bench-envs-"))
    try:
        baseline = None
        try:
            ours = build_serving_environment(ROOT, scratch / "ours", "orders-app")
            if options.baseline is not None:
                baseline = prepare_baseline(options.baseline, scratch / "baseline")
        except BenchError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
        options.server_python = str(ours.python)
        report: dict[str, Any] = {"meta": describe_run(options, wrk_version, ours), "backends": {}}
        if baseline is not None:
            report["meta"]["baseline"] = baseline.describe()
        print(
            f"bench: {ours.loop}/{ours.http}, {options.workers} worker(s), results in {options.out}",
            flush=True,
        )
        started = time.monotonic()
        for backend in options.backends:
            if options.soak_seconds is not None:
                report["backends"][backend] = soak_backend(backend, options, options.out)
            else:
                report["backends"][backend] = bench_backend(backend, options, options.out, baseline)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["meta"]["elapsed_s"] = round(time.monotonic() - started, 1)
    report["meta"]["loadavg_end"] = os.getloadavg()
    if options.soak_seconds is not None:
        return finish_soak(report, options.out)
    (options.out / "results.json").write_text(json.dumps(report, indent=2))
    (options.out / "results.md").write_text(markdown(report))
    print_table(report)
    if "S0" in options.scenarios:
        draw_chart(report, options.out / "results.png")
    print(f"\nwrote {options.out / 'results.json'}")
    if "S0" in options.scenarios:
        print(f"wrote {options.out / 'results.png'}")
    found = problems(report)
    for problem in found:
        print(f"bench: FAIL {problem}", file=sys.stderr)
    return 1 if found else 0
