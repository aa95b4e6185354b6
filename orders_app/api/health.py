"""Liveness and readiness probes (no authentication: orchestrators call them)."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State

from orders_app.api.schemas import Health


@get("/health/live", operation_id="live", sync_to_thread=False)
def live() -> Health:
    """The process is up and serving; touches nothing else, so it never fails because of a dependency."""
    return Health(status="ok")


@get("/health/ready", operation_id="ready")
async def ready(state: State) -> Health:
    """Ready to serve orders: the database answers a trivial query (503 with `detail` otherwise)."""
    await state.database.ping()
    return Health(status="ok")
