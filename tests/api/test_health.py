"""Health probes: liveness touches nothing, readiness queries the database."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from orders_app.app import create_asgi_app
from orders_app.settings import Settings


async def test_liveness_answers_without_authentication(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_runs_a_query_on_the_database(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_is_503_with_detail_when_the_database_is_unreachable(keys: Any) -> None:
    # Port 9 on loopback (discard) has no PostgreSQL: connections are refused at once.
    settings = Settings(
        db_url="postgresql://nobody@127.0.0.1:9/none",
        jwt_public_key_file=keys.public_key,
        db_connect_timeout=2,
    )
    async with AsyncTestClient(create_asgi_app(settings)) as unreachable:
        ready = await unreachable.get("/health/ready")
        live = await unreachable.get("/health/live")
    assert ready.status_code == 503
    assert ready.json() == {"detail": "The database is unavailable; please retry shortly."}
    assert live.status_code == 200
