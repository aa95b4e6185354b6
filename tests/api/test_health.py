"""Health probes: liveness touches nothing; readiness says whether orders can be served, and why not.

Readiness is "the database answers and its schema is at this build's revision". The process serves
without either (nothing orders start-up on podman compose or Kubernetes) and becomes ready by itself.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from orders_app.api.health import Readiness
from orders_app.app import create_app, create_asgi_app, serving_stack
from orders_app.auth.keys import KeyPair
from orders_app.db.revision import SchemaScripts
from orders_app.edge.drain import DRAINING_DETAIL
from orders_app.settings import Settings
from tests.conftest import Backend, TokenMinter, app_settings, run_migrations
from tests.factories import order_body


async def test_liveness_answers_without_authentication(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_runs_a_query_on_the_database(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unreachable_database_readiness_and_orders_say_so_liveness_stays_up(
    keys: KeyPair, token_for: TokenMinter
) -> None:
    # Port 9 on loopback (discard) has no PostgreSQL: connections are refused at once.
    settings = Settings(
        db_url="postgresql://nobody@127.0.0.1:9/none",
        jwt_public_key_file=keys.public_key,
        db_connect_timeout=2,
        migrate_on_start=False,
    )
    auth = {"Authorization": f"Bearer {token_for('alice')}"}
    async with AsyncTestClient(create_asgi_app(settings)) as unreachable:
        ready = await unreachable.get("/health/ready")
        live = await unreachable.get("/health/live")
        orders = await unreachable.get("/orders", headers=auth)
    assert ready.status_code == 503
    assert ready.json() == {"detail": "database unreachable (ConnectionRefusedError)"}
    assert ready.headers["Retry-After"] == "2"
    assert live.status_code == 200
    assert orders.status_code == 503
    assert orders.json() == ready.json()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest) -> Backend:
    """A database that exists but was never migrated: the API came up before `orders-app migrate`."""
    factory = "make_sqlite_database" if request.param == "sqlite" else "make_postgres_database"
    return Backend(request.param, request.getfixturevalue(factory)())


async def test_schema_behind_gives_503_with_the_revisions_then_ready_after_migrate_without_restart(
    empty_database: Backend, keys: KeyPair, token_for: TokenMinter
) -> None:
    expected = ", ".join(SchemaScripts().heads)
    settings = app_settings(empty_database, keys, readiness_cache_seconds=0.2)
    auth = {"Authorization": f"Bearer {token_for('alice')}"}
    async with AsyncTestClient(create_asgi_app(settings)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        behind = f"schema at revision none (no tables yet), expected {expected}"
        assert ready.json() == {"detail": f"{behind}; run `orders-app migrate`"}
        created = await client.post("/orders", json=order_body(), headers=auth)
        assert created.status_code == 503
        assert created.json() == ready.json()
        assert (await client.get("/orders")).status_code == 401, "authentication still comes first"

        await asyncio.to_thread(run_migrations, empty_database.url)

        deadline = time.monotonic() + 5
        while (ready := await client.get("/health/ready")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            await asyncio.sleep(0.05)
        created = await client.post("/orders", json=order_body(), headers=auth)
        assert created.status_code == 201, created.text
        listed = await client.get("/orders", headers=auth)
        assert [order["id"] for order in listed.json()["orders"]] == [created.json()["id"]]


class Clock:
    """A clock the test moves by hand, so that no assertion depends on how fast the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counted_app(backend: Backend, keys: KeyPair) -> Iterator[tuple[Litestar, list[float], Clock]]:
    clock = Clock()
    settings = app_settings(backend, keys, readiness_cache_seconds=1.0)
    app = create_app(settings, readiness=functools.partial(Readiness, clock=clock))
    checkouts: list[float] = []

    def count(*_: Any) -> None:
        checkouts.append(clock.now)

    engine = app.state.database.engine.sync_engine
    event.listen(engine, "checkout", count)
    yield app, checkouts, clock
    event.remove(engine, "checkout", count)


async def test_a_flood_of_probes_costs_one_query_per_cache_period(
    counted_app: tuple[Litestar, list[float], Clock],
) -> None:
    app, checkouts, clock = counted_app
    async with AsyncTestClient(serving_stack(app)) as client:
        answers = await asyncio.gather(*(client.get("/health/ready") for _ in range(50)))
        assert [answer.status_code for answer in answers] == [200] * 50
        assert len(checkouts) == 1, "50 probes at once must share one readiness query"

        clock.now += 0.9
        answers = await asyncio.gather(*(client.get("/health/ready") for _ in range(20)))
        assert {answer.status_code for answer in answers} == {200}
        assert len(checkouts) == 1, "an answer younger than READINESS_CACHE_SECONDS is reused"

        clock.now += 0.2
        assert (await client.get("/health/ready")).status_code == 200
        assert len(checkouts) == 2, "after READINESS_CACHE_SECONDS the database is asked again"


async def test_once_a_drain_has_begun_readiness_is_503_and_every_response_closes_its_connection(
    backend: Backend, keys: KeyPair, token_for: TokenMinter
) -> None:
    app = create_app(app_settings(backend, keys, shutdown_drain_seconds=5))
    auth = {"Authorization": f"Bearer {token_for('alice')}"}
    async with AsyncTestClient(serving_stack(app)) as client:
        before = await client.get("/health/ready")
        app.state.drain.begin()
        ready = await client.get("/health/ready")
        created = await client.post("/orders", json=order_body(), headers=auth)
        live = await client.get("/health/live")
    assert before.status_code == 200
    assert "connection" not in before.headers
    assert ready.status_code == 503
    assert ready.json() == {"detail": DRAINING_DETAIL}
    # Still serving while the load balancer takes the replica out of rotation.
    assert created.status_code == 201
    assert live.status_code == 200
    assert {ready.headers["connection"], created.headers["connection"], live.headers["connection"]} == {
        "close"
    }
