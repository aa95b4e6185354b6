"""Request metrics: every HTTP request counted and timed, by method, route template and status class."""

from __future__ import annotations

import time

from litestar.types import ASGIApp, HTTPScope, Message, Receive, Send

from orders_app.edge.http_layer import HttpLayer
from orders_app.edge.scope import SERVER_STATUS_KEY
from orders_app.observability.sink import MetricsSink

# Labels must stay a small, fixed set: a client-chosen method or path would grow one series per value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"

# Which limit a refusal status stands for: 413 from Litestar's body limit; 431 and 408 from the server's
# guarded protocols (edge.guard), 408 also for a body too slow once the app has the request.
SHED_BY_STATUS = {413: "body_size", 431: "header_size", 408: "timeout"}


def shed_by_status(metrics: MetricsSink, status: int) -> None:
    """A refusal status counted as the limit it stands for; other statuses are not refusals."""
    limit = SHED_BY_STATUS.get(status)
    if limit is not None:
        metrics.shed(limit)


class RequestMetrics(HttpLayer):
    """Counts and times every HTTP request, matched or not, by method, route template and status class.

    A pure-ASGI layer around the whole app, for the reason the access log is one: Litestar's own
    middleware (its Prometheus plugin included) runs only for requests that matched a route. The route
    template is read from the scope after the app has answered (Litestar's router writes it there);
    a request that matched no route is labelled `unmatched`, never with its raw path.
    """

    def __init__(self, app: ASGIApp, metrics: MetricsSink) -> None:
        super().__init__(app)
        self._metrics = metrics

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 0

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._metrics.in_flight(1)
        try:
            await self._app(scope, receive, send_counting)
        except BaseException:
            status = status or 500
            raise
        finally:
            self._metrics.in_flight(-1)
            # The server answered 408 for a body that came too slowly; what the app sent was dropped.
            status = scope.get(SERVER_STATUS_KEY, status)  # type: ignore[assignment]
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: HTTPScope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        # Unset when no route matched the path (404) or the method (405).
        route = scope.get("path_template") or UNMATCHED_ROUTE
        # 0: the client went away before any response was started.
        status_class = f"{status // 100}xx" if status else "aborted"
        self._metrics.request(method, route, status_class, seconds)
        shed_by_status(self._metrics, status)
