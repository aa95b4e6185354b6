"""What a report says about the run itself: date, commit, machine, server stack and settings."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.config import PEER_TARGET, ROOT, SEED_ORDERS, TOKEN_POOL, Options
from bench.environment import ServingEnvironment


def _version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(root: Path = ROOT) -> str:
    """HEAD, marked +dirty when orders_app/ has uncommitted changes (the figures are not HEAD's then)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)  # noqa: S603, S607

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (
        "+dirty" if git("status", "--porcelain", "orders_app").stdout.strip() else ""
    )


def describe_run(options: Options, wrk_version: str, served: ServingEnvironment) -> dict[str, Any]:
    """The report's `meta`; main adds `elapsed_s` and `loadavg_end` when the backends are done."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # What uvicorn picks in our servers' environment (bench/environment.py), not in the runner's.
        "loop": served.loop,
        "http": served.http,
        "wrk": wrk_version,
        "workers": options.workers,
        "connections": options.connections,
        "wrk_threads": options.threads,
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "runs": options.runs,
        "seed_orders": SEED_ORDERS,
        "token_pool": TOKEN_POOL,
        "smoke": options.smoke,
        "peer": options.peer,
        "peer_target": PEER_TARGET,
        "advanced_alchemy": _version("advanced-alchemy"),
        # The machine is shared: its load when the run started (1, 5, 15 minutes).
        "loadavg_start": os.getloadavg(),
    }


def set_up_in_words(meta: dict[str, Any]) -> str:
    """The serving set-up of a `meta`, as every report and chart states it beside its figures."""
    return (
        f"{meta['cpus']} CPUs shared with wrk, {meta['loop']}/{meta['http']}, {meta['workers']} worker, "
        f"{meta['connections']} connections"
    )
