"""One backend's benchmark: prepare the database and tokens, start the servers, run the rounds of wrk
and gather the figures. See docs/bench.md ("What a run does") for what each step is for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.baseline import Baseline
from bench.compare import against, metrics_cost
from bench.config import COMPARED_SCENARIOS, METRICS_OFF, ROOT, SEED_ORDERS, BenchError, Options
from bench.contenders import Contender, baseline_contender, peer_contender
from bench.prepare import Prepared, check_answers, mint_tokens, seed, throwaway_database, write_lua_data
from bench.servers import Server
from bench.wrk import run_wrk, summarise

# (scenario, server, wrk data, label) in the order each round runs them.
Target = tuple[str, Server, Path, str]


def bench_backend(
    backend: str, options: Options, log_dir: Path, baseline: Baseline | None = None
) -> dict[str, Any]:
    with prepared_backend(backend, options, log_dir) as (prepared, databases):
        contenders: list[Contender] = []
        if baseline is not None:
            contenders.append(baseline_contender(options, prepared, databases, baseline))
        if options.peer:
            contenders.append(peer_contender(options, prepared, databases))
        return measure(options, prepared, contenders)


@contextlib.contextmanager
def prepared_backend(
    backend: str, options: Options, log_dir: Path
) -> Iterator[tuple[Prepared, contextlib.ExitStack]]:
    """Keys, tokens, a migrated and seeded throwaway database and wrk's data; all removed afterwards.
    The exit stack takes further databases that must go at the same time (the peer's, the baseline's)."""
    from orders_app.auth.keys import create_key_pair

    workdir = Path(tempfile.mkdtemp(prefix=f"orders-bench-{backend}-"))
    try:
        keys_dir = workdir / "keys"
        create_key_pair(keys_dir)
        tokens = mint_tokens(keys_dir)
        with contextlib.ExitStack() as databases:
            db_url = databases.enter_context(throwaway_database(backend, workdir, options.postgres_url))
            env = {
                **os.environ,
                "DB_URL": db_url,
                "JWT_PUBLIC_KEY_FILE": str(keys_dir / "public_key.pem"),
                # The image's log format: its access line is the one production pays for.
                "LOG_FORMAT": "json",
                "PYTHONPATH": str(ROOT),
            }
            env.pop("AUTH_DISABLED", None)
            migrate = subprocess.run(
                [sys.executable, "-m", "orders_app", "migrate"], env=env, capture_output=True, check=False
            )
            if migrate.returncode != 0:
                raise BenchError(f"migration failed: {migrate.stderr.decode().strip()}")
            print(f"[{backend}] seeding {SEED_ORDERS} orders …", flush=True)
            ids = asyncio.run(seed(db_url, SEED_ORDERS))
            data = workdir / "data.lua"
            write_lua_data(data, tokens.readers, tokens.writers, ids)
            yield Prepared(backend, workdir, log_dir, env, data, ids, tokens), databases
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(options: Options, prepared: Prepared, contenders: list[Contender]) -> dict[str, Any]:
    backend, env, data, log_dir = prepared.backend, prepared.env, prepared.data, prepared.log_dir

    def app_server(workers: int) -> Server:
        return Server(
            f"orders-app ({backend}, {workers} worker(s))",
            [options.server_python, "-m", "orders_app", "serve", "--workers", str(workers)],
            env,
            log_dir / f"{backend}-app-{workers}w.log",
        )

    hello = Server(
        "bench.hello",
        [options.server_python, "-m", "bench.hello", "--workers", str(options.workers)],
        env,
        log_dir / f"{backend}-hello.log",
    )
    app = app_server(options.workers)
    # The metrics-off twin (--metrics-cost) idles beside the measured server while the other is loaded.
    metrics_off = Server(
        f"orders-app ({backend}, metrics off)",
        [options.server_python, "-m", "orders_app", "serve", "--workers", str(options.workers)],
        {**env, "METRICS_ENABLED": "false"},
        log_dir / f"{backend}-app-nometrics.log",
    )
    servers = [hello, app, *(contender.server for contender in contenders)]
    if options.metrics_cost:
        servers.append(metrics_off)
    failures: list[str] = []
    result: dict[str, Any] = {"workers": options.workers}
    try:
        hello.start("/hello")
        app.start("/health/ready")
        if options.metrics_cost:
            metrics_off.start("/health/ready")
        checks = [(app, prepared.ids)]
        for contender in contenders:
            contender.server.start(contender.ready_path)
            checks.append((contender.server, contender.seed()))
        if contenders:
            check_answers(prepared.tokens, *checks)
        targets: list[Target] = []
        for name in options.scenarios:
            targets.append((name, hello if name == "S0" else app, data, name))
            if options.metrics_cost and name == "S2":
                # Right after S2 with metrics on, in every round: drift hits both alike.
                targets.append((name, metrics_off, data, METRICS_OFF))
            if name in COMPARED_SCENARIOS:
                targets += [(name, c.server, c.data, f"{c.key} {name}") for c in contenders]
        runs = run_rounds(backend, options, targets, servers)
        scenarios = {name: summarise(runs[name]) for name in options.scenarios}
        compared = {
            c.key: {
                name: summarise(runs[f"{c.key} {name}"])
                for name in options.scenarios
                if f"{c.key} {name}" in runs
            }
            for c in contenders
        }
        ceiling = scenarios["S0"]["rps"] if "S0" in scenarios else None
        for summary in [
            *scenarios.values(),
            *(each for table in compared.values() for each in table.values()),
        ]:
            summary["ratio"] = summary["rps"] / ceiling if ceiling else None
        result["scenarios"] = scenarios
        if METRICS_OFF in runs:
            result["metrics_cost"] = metrics_cost(scenarios["S2"], summarise(runs[METRICS_OFF]))
        result["peak_rss_mb"] = app.peak_rss_mb()
        result["hello_peak_rss_mb"] = hello.peak_rss_mb()
        for c in contenders:
            result[c.key] = {"scenarios": compared[c.key], "peak_rss_mb": c.server.peak_rss_mb()}
            result[f"against_{c.key}"] = against(scenarios, compared[c.key], c.key, c.target)
    finally:
        for server in servers:
            code = server.stop()
            if code not in (0, None):
                failures.append(f"{server.name} exited with {code}; see {server.log}")
    if options.scaling and "S2" in options.scenarios:
        result["scaling"] = measure_scaling(backend, options, data, app_server, result)
    result["server_failures"] = failures
    return result


def run_rounds(
    backend: str, options: Options, targets: list[Target], servers: list[Server]
) -> dict[str, list[dict[str, Any]]]:
    """Each target once as warm-up, then `options.runs` rounds of all targets; the runs by label."""
    if options.warmup > 0:
        for name, server, path, label in targets:
            print(f"[{backend}] warm-up {label} ({options.warmup:g} s)", flush=True)
            run_wrk(options, server, name, path, options.warmup)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for _, _, _, label in targets}
    # Rounds interleave the scenarios so that drift on a shared machine hits all of them alike.
    for round_number in range(1, options.runs + 1):
        for name, server, path, label in targets:
            run = run_wrk(options, server, name, path, options.duration)
            runs[label].append(run)
            print(
                f"[{backend}] run {round_number}/{options.runs} {label}: {run['rps']:8.1f} req/s  "
                f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:7.2f} ms  "
                f"non-2xx {run['non_2xx']}  409 {run['conflicts_409']}  errors {run['errors']}  "
                f"server CPU {run['cpu_ms_per_request']:.2f} ms/req",
                flush=True,
            )
            for each in servers:
                if not each.alive():
                    raise BenchError(f"{each.name} died during {label}; see {each.log}")
    return runs


def measure_scaling(
    backend: str,
    options: Options,
    data: Path,
    app_server: Callable[[int], Server],
    single: dict[str, Any],
) -> dict[str, Any]:
    """S2 with twice the workers; the 1-worker figure is the one measured in the main rounds."""
    workers = options.workers * 2
    server = app_server(workers)
    try:
        server.start("/health/ready")
        if options.warmup > 0:
            run_wrk(options, server, "S2", data, options.warmup)
        runs = []
        for round_number in range(1, options.runs + 1):
            run = run_wrk(options, server, "S2", data, options.duration)
            runs.append(run)
            print(
                f"[{backend}] S2 with {workers} workers, run {round_number}/{options.runs}: "
                f"{run['rps']:8.1f} req/s  p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:7.2f} ms",
                flush=True,
            )
        summary = summarise(runs)
        summary["workers"] = workers
        summary["peak_rss_mb_per_worker"] = server.worker_peaks_mb()
        summary["speedup"] = summary["rps"] / single["scenarios"]["S2"]["rps"]
        return summary
    finally:
        server.stop()
