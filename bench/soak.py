"""`bench/run --soak DURATION`: one backend's soak. The mixed scenario (S4) as fast as the server
answers, to measure its peak; then S4 paced at half that peak for DURATION, one wrk run per minute,
the server's memory, descriptors and pool sampled while each runs (docs/bench.md, "Soak")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import procfs
from bench.config import BenchError, Options
from bench.postgres_server import describe, table_maintenance, temporary_postgres
from bench.runner import prepared_backend
from bench.servers import Server
from bench.soak_figures import (
    Sample,
    goals,
    minute_figures,
    minute_lengths,
    paced_rate,
    parse_gauge,
    per_thread_rate,
    smoke_goals,
)
from bench.wrk import run_wrk

# The peak: S4 unpaced for this long after a warm-up of its own (seconds; the smoke's in brackets).
PEAK_WARMUP_S, PEAK_S = 10.0, 30.0
SMOKE_PEAK_WARMUP_S, SMOKE_PEAK_S = 3.0, 10.0
# Samples per minute: the last one lands at the minute's end.
SAMPLE_EVERY_S = 5.0
POOL_GAUGE = "orders_db_connections_in_use"


class Sampler:
    """Reads the server's RSS, open descriptors and pool gauge every few seconds, in a thread."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        # The minute's last sample, taken as its wrk run ends.
        self.samples.append(self.sample())

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.samples.append(self.sample())

    def sample(self) -> Sample:
        assert self.server.process is not None
        pids = procfs.process_tree(self.server.process.pid)
        return Sample(
            rss_mb=sum(procfs.rss_kb(pid) for pid in pids) / 1024,
            fds=sum(procfs.open_fds(pid) for pid in pids),
            pool_in_use=self._pool_in_use(),
        )

    def _pool_in_use(self) -> int | None:
        try:
            with urllib.request.urlopen(self.server.url + "/metrics", timeout=2) as response:  # noqa: S310
                return parse_gauge(response.read().decode(), POOL_GAUGE)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None


def soak_backend(backend: str, options: Options, log_dir: Path) -> dict[str, Any]:
    assert options.soak_seconds is not None
    with contextlib.ExitStack() as stack:
        result: dict[str, Any] = {"workers": options.workers}
        if backend == "postgres":
            admin_url = stack.enter_context(temporary_postgres(log_dir / "postgres-server.log"))
            options = dataclasses.replace(options, postgres_url=admin_url)
            result["postgres"] = {"server": "initdb by the benchmark", **asyncio.run(describe(admin_url))}
        prepared, _ = stack.enter_context(prepared_backend(backend, options, log_dir))
        server = Server(
            f"orders-app ({backend}, soak)",
            [options.server_python, "-m", "orders_app", "serve", "--workers", str(options.workers)],
            prepared.env,
            log_dir / f"{backend}-soak-app.log",
        )
        try:
            server.start("/health/ready")
            result |= drive(backend, options, server, prepared.data)
            if backend == "postgres":
                result["postgres"]["tables"] = asyncio.run(table_maintenance(prepared.env["DB_URL"]))
            result["peak_rss_mb"] = server.peak_rss_mb()
        finally:
            code = server.stop()
        result["server_failures"] = [] if code in (0, None) else [f"{server.name} exited with {code}"]
        return result


def drive(backend: str, options: Options, server: Server, data: Path) -> dict[str, Any]:
    """The peak, then the paced minutes; the figures of each and the goals checked on them."""
    warmup, peak_s = (SMOKE_PEAK_WARMUP_S, SMOKE_PEAK_S) if options.smoke else (PEAK_WARMUP_S, PEAK_S)
    print(f"[{backend}] soak: S4 warm-up {warmup:g} s, then its peak over {peak_s:g} s", flush=True)
    run_wrk(options, server, "S4", data, warmup)
    peak = run_wrk(options, server, "S4", data, peak_s)
    rate = paced_rate(peak["rps"])
    print(
        f"[{backend}] soak: peak {peak['rps']:.1f} req/s (p99 {peak['p99_ms']:.1f} ms); "
        f"pacing S4 at {rate:.1f} req/s for {options.soak_seconds:g} s",
        flush=True,
    )
    minutes: list[dict[str, Any]] = []
    assert options.soak_seconds is not None
    for number, seconds in enumerate(minute_lengths(options.soak_seconds), start=1):
        with Sampler(server) as sampler:
            run = run_wrk(options, server, "S4", data, seconds, per_thread_rate(rate, options.threads))
        minute = minute_figures(number, sampler.samples, run, rate)
        minutes.append(minute)
        print(
            f"[{backend}] minute {number:3d}: {minute['rps']:7.1f} req/s ({minute['rate_share']:.1%})  "
            f"p50 {minute['p50_ms']:6.2f} ms  p99 {minute['p99_ms']:7.2f} ms  "
            f"CPU {minute['cpu_ms_per_request'] or 0:5.2f} ms/req  RSS {minute['rss_mb']:6.1f} MB  "
            f"fds {minute['fds_max']:3d}  pool in use ≤ {minute['pool_in_use_max']}  "
            f"non-2xx {minute['non_2xx']}  errors {minute['errors']}",
            flush=True,
        )
        if not server.alive():
            raise BenchError(f"{server.name} died in minute {number}; see {server.log}")
    checked = smoke_goals(minutes, peak) if options.smoke else goals(minutes, peak)
    return {
        "peak": peak,
        "target_rps": rate,
        "minutes": minutes,
        "goals": [dataclasses.asdict(goal) for goal in checked],
    }
