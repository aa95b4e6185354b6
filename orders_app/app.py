"""The application factory: the one place that wires settings, database, auth and routes together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from litestar import Litestar, Response, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ASGIApp, ControllerRouterHandler

from orders_app.api.docs import docs_router
from orders_app.api.errors import EXCEPTION_HANDLERS
from orders_app.api.health import Readiness, live, ready, require_current_schema
from orders_app.api.hooks import complete_allow_header
from orders_app.api.openapi import openapi_router
from orders_app.api.orders import OrdersController
from orders_app.auth.from_settings import build_authenticator
from orders_app.db.engine import Database, open_database
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.edge.aborts import ClientAborts
from orders_app.edge.access_log import AccessLog, stdout_lines
from orders_app.edge.drain import DrainingConnections, ShutdownDrain
from orders_app.edge.in_flight import ConcurrencyLimit
from orders_app.edge.request_metrics import RequestMetrics
from orders_app.edge.subject_limit import SUBJECT_LIMIT_STATE, SubjectLimit
from orders_app.observability.metrics import exposition, forget_dead_workers, worker_stopped
from orders_app.observability.prometheus import PrometheusSink
from orders_app.observability.sink import NO_METRICS, MetricsSink
from orders_app.process import tune_garbage_collector
from orders_app.service.idempotency import KeyPolicy
from orders_app.service.ports import NO_EVENTS, OrderEvents
from orders_app.settings import Settings

logger = logging.getLogger("orders_app")


@get("/metrics", operation_id="metrics", sync_to_thread=False, include_in_schema=False)
def metrics() -> Response[bytes]:
    """Prometheus text format; outside the orders controller, so no bearer token is asked for."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def create_app(
    settings: Settings | None = None, *, readiness: Callable[[Database, float], Readiness] = Readiness
) -> Litestar:
    """The Litestar application: routes, dependencies, hooks and the error map. Served via create_asgi_app.

    `readiness` builds the readiness check from the app's database and READINESS_CACHE_SECONDS.
    """
    settings = settings or Settings.from_env()
    authenticator = build_authenticator(settings)
    if settings.auth_disabled:
        logger.warning(
            "AUTH_DISABLED is set: every request is served without authentication as %r",
            authenticator.anonymous_subject,
        )
    # Creating the engine opens no connection; the pool fills on first use.
    measured = settings.metrics_enabled
    recorded = PrometheusSink() if measured else None
    sink: MetricsSink = recorded or NO_METRICS
    database = open_database(settings, recorded)
    events: OrderEvents = recorded or NO_EVENTS
    drain = ShutdownDrain(settings.shutdown_drain_seconds)

    async def dispose_database() -> None:
        await database.dispose()

    def unit_of_work() -> SqlUnitOfWork:
        # A new one per request over this app's database: a provider with no parameters to resolve.
        return SqlUnitOfWork(database)

    route_handlers: list[ControllerRouterHandler] = [
        # Orders answer 503 (with the readiness reason) until the schema is seen at this build's revision.
        Router("/", route_handlers=[OrdersController], before_request=require_current_schema),
        live,
        ready,
        openapi_router(),
    ]
    if settings.docs_enabled:
        route_handlers.append(docs_router())
    if measured and settings.metrics_port is None:
        route_handlers.append(metrics)
    return Litestar(
        route_handlers=route_handlers,
        dependencies={
            "uow": Provide(unit_of_work, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        # oas.yaml is the published contract and is served as committed; no second, generated one.
        openapi_config=None,
        request_max_body_size=settings.max_body_bytes,
        before_send=[complete_allow_header],
        # The drain stands in front of the server's SIGTERM handler once the app has started (edge/drain.py).
        on_startup=[forget_dead_workers, tune_garbage_collector, drain.take_over_signals],
        on_shutdown=[drain.release_signals, dispose_database, worker_stopped],
        state=State(
            {
                "database": database,
                "readiness": readiness(database, settings.readiness_cache_seconds),
                "authenticator": authenticator,
                "settings": settings,
                # Without authentication every request has one subject; MAX_CONCURRENCY alone applies.
                SUBJECT_LIMIT_STATE: (
                    None
                    if settings.auth_disabled
                    else SubjectLimit(settings.max_concurrency_per_subject, sink)
                ),
                "order_events": events,
                "idempotency": KeyPolicy(
                    ttl=timedelta(seconds=settings.idempotency_key_ttl), wait=settings.idempotency_key_wait
                ),
                "metrics": sink,
                "drain": drain,
            }
        ),
    )


def serving_stack(app: Litestar) -> ASGIApp:
    """The one place where ASGI layers are put around the Litestar app: what is served, and what tests drive.

    The in-flight limit, the request metrics and the access log must see every request, a 404 for an
    unknown path and a 405 included. Litestar runs its own middleware only for requests that matched a
    route (its middleware stacks are built per route handler; litestar-org/litestar#175), so these wrap
    the application from outside, as plain ASGI layers, with lifespan events passed through.
    """
    settings: Settings = app.state.settings
    sink: MetricsSink = app.state.metrics
    served: ASGIApp = ConcurrencyLimit(
        ClientAborts(app),
        settings.max_concurrency,
        # A scrape during an overload is when it matters most.
        exempt_prefixes=("/health/", "/metrics"),
        metrics=sink,
    )
    served = DrainingConnections(served, app.state.drain)
    if settings.metrics_enabled:
        served = RequestMetrics(served, sink)
    if settings.access_log:
        served = AccessLog(served, stdout_lines())
    return served


def create_asgi_app(settings: Settings | None = None) -> ASGIApp:
    """What `orders-app serve` runs (a uvicorn factory): the Litestar app inside its serving layers."""
    return serving_stack(create_app(settings))
