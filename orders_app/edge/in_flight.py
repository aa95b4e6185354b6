"""The in-flight limit: at most MAX_CONCURRENCY requests handled at once per process."""

from __future__ import annotations

from litestar.types import ASGIApp, HTTPScope, Receive, Send

from orders_app.edge.http_layer import HttpLayer
from orders_app.edge.overload import OVERLOADED, overloaded_response, send_overloaded
from orders_app.observability.sink import NO_METRICS, MetricsSink


class ConcurrencyLimit(HttpLayer):
    """Answers 503 at once, as JSON with Retry-After, while `limit` requests are already in flight.

    Shedding load at the door keeps latency bounded for the requests that are admitted: without it an
    overloaded process queues every request (for the database pool, the SQLite write lock, the CPU)
    until clients time out, and the work done for them is wasted. The count is per process; with N
    workers the service admits N x limit. Paths under `exempt_prefixes` (the health probes) are never
    refused, so an orchestrator does not restart or drain a process merely because it is busy.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        *,
        exempt_prefixes: tuple[str, ...] = ("/health/",),
        retry_after_seconds: int = 1,
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        super().__init__(app)
        self._metrics = metrics
        self._limit = limit
        self._exempt_prefixes = exempt_prefixes
        self._headers, self._body = overloaded_response(OVERLOADED, retry_after_seconds)
        # One event loop per process: plain integer arithmetic between awaits needs no lock.
        self.in_flight = 0

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(self._exempt_prefixes):
            await self._app(scope, receive, send)
            return
        if self.in_flight >= self._limit:
            self._metrics.shed("concurrency")
            await send_overloaded(send, self._headers, self._body)
            return
        self.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self.in_flight -= 1
