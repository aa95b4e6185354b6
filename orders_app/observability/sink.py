"""Where every measurement goes: one sink, handed to each part that counts, chosen by METRICS_ENABLED.

The edge layers, the error map, the database pool and the use cases report through the sink they were
given; none of them names a metric. PrometheusSink (observability.prometheus) records; NoMetrics, chosen
when METRICS_ENABLED=false, records nothing. The sink also serves as the database's PoolObserver and the
use cases' OrderEvents, whose methods it shares.
"""

from __future__ import annotations

from typing import Protocol


class MetricsSink(Protocol):
    def request(self, method: str, route: str, status_class: str, seconds: float) -> None:
        """One HTTP request answered (or aborted), with labels already bounded by the caller."""

    def in_flight(self, delta: int) -> None:
        """Requests being handled now changed by `delta` (+1 on arrival, -1 when answered)."""

    def shed(self, limit: str) -> None:
        """A request refused by a limit (concurrency, subject, body_size, header_size, timeout)."""

    def auth_failure(self, reason: str) -> None:
        """A 401, by the client-visible description (a fixed set; the caller maps others to "other")."""

    def database_unavailable(self) -> None:
        """A 503 because the database could not be reached or did not answer in time."""

    def connections_in_use(self, count: int) -> None: ...

    def waiting(self, delta: int) -> None: ...

    def wait_timed_out(self) -> None: ...

    def placed(self) -> None: ...

    def transitioned(self, from_status: str, to_status: str) -> None: ...


class NoMetrics:
    """The sink of METRICS_ENABLED=false: every report is dropped."""

    def request(self, method: str, route: str, status_class: str, seconds: float) -> None:
        pass

    def in_flight(self, delta: int) -> None:
        pass

    def shed(self, limit: str) -> None:
        pass

    def auth_failure(self, reason: str) -> None:
        pass

    def database_unavailable(self) -> None:
        pass

    def connections_in_use(self, count: int) -> None:
        pass

    def waiting(self, delta: int) -> None:
        pass

    def wait_timed_out(self) -> None:
        pass

    def placed(self) -> None:
        pass

    def transitioned(self, from_status: str, to_status: str) -> None:
        pass


NO_METRICS = NoMetrics()


def metrics_sink(enabled: bool) -> MetricsSink:
    """The process's sink for METRICS_ENABLED; Prometheus is imported only when metrics are on."""
    if not enabled:
        return NO_METRICS
    from orders_app.observability.prometheus import PrometheusSink

    return PrometheusSink()
