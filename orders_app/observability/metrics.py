"""Prometheus metrics: their definitions, the pure-ASGI layer that counts requests, and the exposition.

Every metric lives in prometheus-client's default registry, created once at import. With several
worker processes (`serve --workers N`) the parent sets PROMETHEUS_MULTIPROC_DIR before the workers
start (see `prepare_multiprocess`), so each worker writes its values to files there and a scrape, in
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
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from orders_app.api.middleware import SERVER_STATUS_KEY
from orders_app.auth.failures import DESCRIPTIONS

# A `_created` timestamp per series doubles the exposition; Prometheus reads resets from the counts.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Finest where the service's latencies lie, from probes to the timeouts (docs/metrics.md, "Latency buckets").
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Labels must stay a small, fixed set: a client-chosen method or path would grow one series per value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"

REQUESTS = Counter(
    "orders_http_requests",
    "HTTP requests answered, by method, route template and status class.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "orders_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "orders_http_requests_in_flight",
    "Requests being handled now.",
    multiprocess_mode="livesum",
)
SHED = Counter(
    "orders_http_requests_shed",
    "Requests refused by a limit before the application handled them, by limit.",
    ["limit"],
)
AUTH_FAILURES = Counter(
    "orders_auth_failures",
    "Requests answered 401, by reason (the description in the 401 body).",
    ["reason"],
)
DB_IN_USE = Gauge(
    "orders_db_connections_in_use",
    "Pooled database connections checked out now.",
    multiprocess_mode="livesum",
)
DB_WAITING = Gauge(
    "orders_db_checkout_waiting",
    "Units of work waiting in line for a pooled database connection.",
    multiprocess_mode="livesum",
)
DB_WAIT_TIMEOUTS = Counter(
    "orders_db_checkout_timeouts",
    "Waits for a pooled database connection that ran out of time (answered 503).",
)
DB_UNAVAILABLE = Counter(
    "orders_db_unavailable",
    "Requests answered 503 because the database could not be reached or answered in time.",
)
ORDERS_PLACED = Counter("orders_placed", "Orders placed (committed).")
TRANSITIONS = Counter(
    "orders_status_transitions",
    "Order status changes (committed), by previous and new status.",
    ["from_status", "to_status"],
)

# Which limit a refusal status stands for: 413 from Litestar's body limit; 431 and 408 from the server's
# protocol classes (orders_app/server.py), 408 also for a body too slow once the app has the request.
SHED_BY_STATUS = {413: "body_size", 431: "header_size", 408: "timeout"}


def shed_by_status(status: int) -> None:
    """A refusal written by the server itself, before any application saw the request."""
    limit = SHED_BY_STATUS.get(status)
    if limit is not None:
        shed(limit)


def auth_failure_reason(description: str) -> str:
    """The 401 body's description as a label; the set is fixed (auth/failures.py), "other" if not."""
    return description if description in DESCRIPTIONS else "other"


def shed(limit: str) -> None:
    SHED.labels(limit).inc()


class RequestMetrics:
    """Counts and times every HTTP request, matched or not, by method, route template and status class.

    A pure-ASGI layer around the whole app, for the reason the access log is one: Litestar's own
    middleware (its Prometheus plugin included) runs only for requests that matched a route. The route
    template is read from the scope after the app has answered (Litestar's router writes it there);
    a request that matched no route is labelled `unmatched`, never with its raw path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        # Label lookups take a lock and hash every value; the children are few, so they are kept.
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self._app(scope, receive, send_counting)
        except BaseException:
            status = status or 500
            raise
        finally:
            IN_FLIGHT.dec()
            # The server answered 408 for a body that came too slowly; what the app sent was dropped.
            status = scope.get(SERVER_STATUS_KEY, status)  # type: ignore[assignment]
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: HTTPScope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        # Unset when no route matched the path (404) or the method (405).
        route = scope.get("path_template") or UNMATCHED_ROUTE
        # 0: the client went away before any response was started.
        status_class = f"{status // 100}xx" if status else "aborted"
        key = (method, route, status_class)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(method, route, status_class)
        counter.inc()
        timer = self._timers.get(key[:2])
        if timer is None:
            timer = self._timers[key[:2]] = LATENCY.labels(method, route)
        timer.observe(seconds)
        if status in SHED_BY_STATUS:
            shed_by_status(status)


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


class PoolMetrics:
    """The database handle's PoolObserver: connections in use, waiters, waits that timed out."""

    def connections_in_use(self, count: int) -> None:
        DB_IN_USE.set(count)

    def waiting(self, delta: int) -> None:
        DB_WAITING.inc(delta)

    def wait_timed_out(self) -> None:
        DB_WAIT_TIMEOUTS.inc()


class OrderMetrics:
    """The use cases' OrderEvents: what was committed, counted after the commit."""

    def placed(self) -> None:
        ORDERS_PLACED.inc()

    def transitioned(self, from_status: str, to_status: str) -> None:
        TRANSITIONS.labels(from_status, to_status).inc()
