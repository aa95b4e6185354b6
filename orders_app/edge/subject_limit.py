"""The per-subject limit: at most MAX_CONCURRENCY_PER_SUBJECT requests in flight per authenticated user.

A Litestar middleware placed after the bearer authentication on the orders routes: it reads the verified
subject from scope["user"] and the app's SubjectLimit from its state (none when auth is disabled).
"""

from __future__ import annotations

from litestar import Litestar
from litestar.types import HTTPScope, Receive, Send

from orders_app.edge.http_layer import HttpLayer
from orders_app.edge.overload import SUBJECT_OVERLOADED, overloaded_response, send_overloaded
from orders_app.observability.sink import NO_METRICS, MetricsSink

# The app state's key for the process's SubjectLimit (create_app puts it there).
SUBJECT_LIMIT_STATE = "subject_limit"


class SubjectLimit:
    """At most `limit` requests in flight per authenticated subject (process-wide, shared by routes).

    One user's slow uploads or stuck calls must not take every MAX_CONCURRENCY slot: past their share
    they get the same JSON 503 with Retry-After as an overloaded process, and other users are served.
    """

    def __init__(self, limit: int, metrics: MetricsSink = NO_METRICS) -> None:
        self.limit = limit
        self.metrics = metrics
        self.in_flight: dict[str, int] = {}
        self.headers, self.body = overloaded_response(SUBJECT_OVERLOADED)

    def acquire(self, subject: str) -> bool:
        count = self.in_flight.get(subject, 0)
        if count >= self.limit:
            return False
        self.in_flight[subject] = count + 1
        return True

    def release(self, subject: str) -> None:
        count = self.in_flight[subject] - 1
        if count:
            self.in_flight[subject] = count
        else:
            del self.in_flight[subject]


class SubjectConcurrency(HttpLayer):
    """Litestar middleware: refuses a subject's request past its share, admits and counts it otherwise."""

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        limit: SubjectLimit | None = Litestar.from_scope(scope).state.get(SUBJECT_LIMIT_STATE)
        if limit is None:
            await self._app(scope, receive, send)
            return
        subject: str = scope["user"]
        if not limit.acquire(subject):
            limit.metrics.shed("subject")
            await send_overloaded(send, limit.headers, limit.body)
            return
        try:
            await self._app(scope, receive, send)
        finally:
            limit.release(subject)
