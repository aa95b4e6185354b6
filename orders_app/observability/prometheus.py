"""The Prometheus metrics and the sink that records into them (METRICS_ENABLED=true).

Every metric lives in prometheus-client's default registry, created once at import; observability.metrics
serves them (one process or the sum of several workers). See docs/metrics.md for the choices and their cost.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# A `_created` timestamp per series doubles the exposition; Prometheus reads resets from the counts.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Finest where the service's latencies lie, from probes to the timeouts (docs/metrics.md, "Latency buckets").
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

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


class PrometheusSink:
    """The MetricsSink of METRICS_ENABLED=true, over the metrics above.

    Label lookups take a lock and hash every value; the labelled children are few, so they are kept.
    Pickled (uvicorn hands the server's configuration to `--workers` processes that way), it arrives
    as a fresh sink over the receiving process's own metrics.
    """

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def __reduce__(self) -> tuple[type[PrometheusSink], tuple[()]]:
        return (PrometheusSink, ())

    def request(self, method: str, route: str, status_class: str, seconds: float) -> None:
        key = (method, route, status_class)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(method, route, status_class)
        counter.inc()
        timer = self._timers.get(key[:2])
        if timer is None:
            timer = self._timers[key[:2]] = LATENCY.labels(method, route)
        timer.observe(seconds)

    def in_flight(self, delta: int) -> None:
        IN_FLIGHT.inc(delta)

    def shed(self, limit: str) -> None:
        SHED.labels(limit).inc()

    def auth_failure(self, reason: str) -> None:
        AUTH_FAILURES.labels(reason).inc()

    def database_unavailable(self) -> None:
        DB_UNAVAILABLE.inc()

    def connections_in_use(self, count: int) -> None:
        DB_IN_USE.set(count)

    def waiting(self, delta: int) -> None:
        DB_WAITING.inc(delta)

    def wait_timed_out(self) -> None:
        DB_WAIT_TIMEOUTS.inc()

    def placed(self) -> None:
        ORDERS_PLACED.inc()

    def transitioned(self, from_status: str, to_status: str) -> None:
        TRANSITIONS.labels(from_status, to_status).inc()
