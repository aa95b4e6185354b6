"""Where every measurement goes: one sink, handed to each part that counts, chosen by METRICS_ENABLED.

The edge layers, the server's protocols and the error map report through the sink they were given; none
of them names a metric. PrometheusSink (observability.prometheus) records, and also serves as the
database's PoolObserver and the use cases' OrderEvents; NoMetrics, chosen when METRICS_ENABLED=false,
records nothing (the database and the use cases then get their own no-op ports).
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


NO_METRICS = NoMetrics()
