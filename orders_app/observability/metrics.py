"""Prometheus exposition: what a scrape reads, in one process or summed over several workers.

The metrics are defined in observability.prometheus. With several worker processes
(`serve --workers N`) the parent sets PROMETHEUS_MULTIPROC_DIR before the workers
start (see `multiprocess_directory`), so each worker writes its values to files there and a scrape, in
whichever worker answers it, adds them up. See docs/metrics.md for the choices and their cost.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Registers every metric family in the default registry, so that a scrape lists them from the start.
from orders_app.observability import prometheus  # noqa: F401

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> tuple[bytes, str]:
    """The current values in Prometheus' text format, summed over every worker in multiprocess mode."""
    return generate_latest(scrape_registry()), CONTENT_TYPE_LATEST


def scrape_registry() -> CollectorRegistry:
    """What a scrape reads: every worker's values and processes, or this process's."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(WorkerProcesses(directory))
        return registry
    return REGISTRY


class WorkerProcesses(Collector):
    """process_* (CPU, memory, open fds) of every live worker, labelled `pid`, read from /proc.

    The multiprocess collector has no process metrics, and the scraped worker's own would describe one
    worker of N. Each worker has a live-gauge file named after its pid from its first import on.
    """

    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in sorted(_worker_pids(self._directory)):
            if not _process_exists(pid):
                continue
            for family in ProcessCollector(pid=functools.partial(int, pid), registry=None).collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return families.values()


def _worker_pids(directory: str) -> set[int]:
    pids = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_GAUGE_FILE.fullmatch(os.path.basename(path))
        if match:
            pids.add(int(match.group(1)))
    return pids


def serve_metrics(host: str, port: int) -> None:
    """A separate listener for /metrics (METRICS_PORT), in a thread of the serving parent process.

    With several workers the parent is the only process that can own one more port; it serves the
    sum of the workers' files. prometheus-client's own small HTTP server: nothing else is served there.
    """
    start_http_server(port, addr=host, registry=scrape_registry())


@contextlib.contextmanager
def multiprocess_directory(workers: int) -> Iterator[Path | None]:
    """Around serving with `workers` processes: an empty PROMETHEUS_MULTIPROC_DIR for them to share.

    Must run in the parent before any worker starts (prometheus-client picks its file-backed values
    when it is first imported, from this variable). The operator's directory, when set, is emptied
    (values of a previous run would otherwise be added in); without one a fresh directory is made
    under TMPDIR (/tmp: the container's root filesystem is read-only) and removed afterwards.
    """
    if workers <= 1:
        yield None
        return
    configured = os.environ.get(MULTIPROC_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="orders-app-metrics-"))
        os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        if not configured:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(directory, ignore_errors=True)


_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def forget_dead_workers() -> list[int]:
    """At a worker's start-up (a Litestar on_startup hook: no arguments)."""
    return drop_dead_workers(_process_exists)


def drop_dead_workers(is_alive: Callable[[int], bool]) -> list[int]:
    """Drop the live gauges of worker processes that have died (run when a worker starts).

    uvicorn replaces a worker that crashed; the files of the dead one stay behind, and its in-flight
    and in-use gauges would be added in forever. Counters are kept: their totals must not go down.
    """
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return []
    dead = sorted(pid for pid in _worker_pids(directory) if not is_alive(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    return dead


def worker_stopped() -> None:
    """Run when a worker shuts down gracefully: its live gauges leave the sum with it."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
