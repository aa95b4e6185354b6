"""Driving wrk with bench/scenario.lua against one server, and the medians of several runs."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from bench.config import LUA, SCENARIOS, SOAK_LUA, BenchError, Options
from bench.servers import Server


def check_wrk() -> str:
    """wrk's version line, or why the benchmark cannot run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed; on Debian/Ubuntu: apt-get install -y wrk")
    result = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    return (result.stdout + result.stderr).splitlines()[0].strip()


def run_wrk(
    options: Options,
    server: Server,
    scenario: str,
    data: Path,
    seconds: float,
    rate_per_thread: float | None = None,
) -> dict[str, Any]:
    """One wrk run of `scenario` with the tokens and ids in `data`, and the server's CPU time around it;
    as fast as the server answers, or paced at `rate_per_thread` requests/s per wrk thread (the soak)."""
    paced = [] if rate_per_thread is None else [f"{rate_per_thread:.3f}"]
    command = [
        "wrk",
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA if rate_per_thread is None else SOAK_LUA),
        server.url,
        "--",
        SCENARIOS[scenario][0],
        str(data),
        *paced,
    ]
    cpu_before = server.cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    cpu_used = server.cpu_seconds() - cpu_before
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise BenchError(f"wrk failed ({result.returncode}) for {scenario}: {result.stderr or result.stdout}")
    raw: dict[str, Any] = json.loads(lines[-1])
    statuses = {int(code): n for code, n in raw["statuses"].items()}
    conflicts = statuses.get(409, 0) if scenario == "S4" else 0
    non_2xx = sum(n for code, n in statuses.items() if not 200 <= code < 300) - conflicts
    errors = sum(raw["errors"][kind] for kind in ("connect", "read", "write", "timeout"))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "statuses": statuses,
        "non_2xx": non_2xx,
        "conflicts_409": conflicts,
        "errors": errors,
        "cpu_ms_per_request": 1000 * cpu_used / raw["requests"] if raw["requests"] else None,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the figures, sums of the failures, and the runs themselves."""
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "conflicts_409": sum(run["conflicts_409"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "cpu_ms_per_request": statistics.median(run["cpu_ms_per_request"] or 0 for run in runs),
        "runs": runs,
    }
