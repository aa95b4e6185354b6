"""Liveness and readiness probes (no authentication: orchestrators call them), and the schema gate.

Readiness means "orders can be served": the database answers and its schema is at the revision this build
expects. The process starts without either (compose on podman, Kubernetes: nothing orders start-up), answers
503 with the reason until both hold, and becomes ready by itself, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.datastructures import State

from orders_app.api.schemas import Health
from orders_app.db.engine import Database
from orders_app.db.errors import DatabaseUnavailable, reported_as_unavailable
from orders_app.db.revision import SchemaScripts
from orders_app.edge.drain import DRAINING_DETAIL, ShutdownDrain

logger = logging.getLogger("orders_app.health")


class NotReady(Exception):
    """Orders cannot be served yet; the message says why (api/errors.py answers 503 with it)."""


@dataclass(frozen=True, slots=True)
class ReadinessAnswer:
    ready: bool
    detail: str


class Readiness:
    """The readiness check: at most one in flight per process, its answer reused for `cache_seconds`.

    A flood of probes therefore costs one database query per period instead of one connection each.
    Once the schema has been seen at the expected revision it is not checked again for order requests
    (schemas do not move backwards under a running release); the probe keeps checking the database.
    """

    def __init__(
        self, database: Database, cache_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._database = database
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._scripts: SchemaScripts | None = None
        self._answer: ReadinessAnswer | None = None
        self._answered_at = 0.0
        self._in_flight: asyncio.Future[ReadinessAnswer] | None = None
        self.schema_current = False

    async def answer(self) -> ReadinessAnswer:
        if self._answer is not None and self._clock() - self._answered_at < self._cache_seconds:
            return self._answer
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self._check())
            self._in_flight.add_done_callback(self._keep)
        # Shielded: a probe that gives up (client gone) must not cancel the check the others wait on.
        return await asyncio.shield(self._in_flight)

    def _keep(self, done: asyncio.Future[ReadinessAnswer]) -> None:
        self._in_flight = None
        if done.cancelled() or done.exception() is not None:
            return
        answer = done.result()
        if self._answer is None or answer != self._answer:
            log = logger.info if answer.ready else logger.warning
            log("readiness: %s", answer.detail)
        self._answer, self._answered_at = answer, self._clock()

    async def _check(self) -> ReadinessAnswer:
        if self._scripts is None:
            self._scripts = SchemaScripts()
        try:
            with reported_as_unavailable():
                async with self._database.engine.connect() as connection:
                    revision = await connection.run_sync(self._scripts.revision_of)
        except DatabaseUnavailable as error:
            cause = error.__cause__
            # The exception's type only: host names and addresses are not for unauthenticated callers.
            return ReadinessAnswer(False, f"database unreachable ({type(cause or error).__name__})")
        if revision.behind:
            return ReadinessAnswer(False, f"{revision.describe()}; run `orders-app migrate`")
        self.schema_current = True
        return ReadinessAnswer(True, "ok")


@get("/health/live", operation_id="live", sync_to_thread=False)
def live() -> Health:
    """The process is up and serving; touches nothing else, so it never fails because of a dependency."""
    return Health(status="ok")


@get("/health/ready", operation_id="ready")
async def ready(state: State) -> Health:
    """Ready to serve orders: the database answers and its schema is current (503 with `detail` otherwise).

    Not ready either once a shutdown has begun: the load balancer stops routing while requests are served.
    """
    drain: ShutdownDrain = state.drain
    if drain.draining:
        raise NotReady(DRAINING_DETAIL)
    answer = await state.readiness.answer()
    if not answer.ready:
        raise NotReady(answer.detail)
    return Health(status="ok")


async def require_current_schema(request: Request[Any, Any, Any]) -> None:
    """Before each orders request: 503 with the reason until the schema has been seen current.

    A `before_request` hook rather than a guard: Litestar copies the route handler for every guard
    call, a cost each request would pay long after the schema is current (docs/bench.md).
    """
    readiness: Readiness = request.app.state.readiness
    if readiness.schema_current:
        return
    answer = await readiness.answer()
    if not answer.ready:
        raise NotReady(answer.detail)
