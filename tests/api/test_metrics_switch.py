"""METRICS_ENABLED switches every count: refusals, auth failures and database outages counted only when on.

Each refusal is produced by the code that serves it: the in-flight and per-subject limits and the error map
through create_app and serving_stack, the header bound and header deadline through the protocol factory
that `orders-app serve` hands to uvicorn (cli.server_options).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from uvicorn.config import Config
from uvicorn.server import ServerState

import orders_app.observability.prometheus  # noqa: F401  (the families exist whatever the switch says)
from orders_app.api.errors import DATABASE_UNAVAILABLE
from orders_app.app import create_app, serving_stack
from orders_app.auth.failures import MISSING
from orders_app.auth.keys import KeyPair
from orders_app.cli import server_options
from orders_app.edge.overload import OVERLOADED, SUBJECT_OVERLOADED
from orders_app.edge.subject_limit import SUBJECT_LIMIT_STATE, SubjectLimit
from orders_app.settings import Settings
from tests.conftest import TokenMinter, run_migrations
from tests.factories import new_user, order_body

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]
Changes = dict[str, dict[tuple[tuple[str, str], ...], float]]


def orders_values() -> Values:
    """Every sample of the service's own metrics in prometheus-client's default registry."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in REGISTRY.collect()
        if family.name.startswith("orders_")
        for sample in family.samples
    }


def moved(before: Values, after: Values) -> Changes:
    changes: Changes = {}
    for (name, labels), value in after.items():
        if value != before.get((name, labels), 0.0):
            changes.setdefault(name, {})[labels] = value - before.get((name, labels), 0.0)
    return changes


class FakeTransport(asyncio.Transport):
    """A connection the protocol writes to; no socket."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the protocol answered on the application's behalf")


def served_connection(settings: Settings) -> tuple[asyncio.Protocol, FakeTransport]:
    """One connection of the protocol `orders-app serve` runs, as uvicorn creates it."""
    config = Config(app=_never_called, **server_options(settings))
    config.load()
    protocol = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def refused_by_the_server(settings: Settings) -> None:
    protocol, transport = served_connection(settings)
    protocol.data_received(b"GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2048 + b"\r\n")
    assert transport.written.startswith(b"HTTP/1.1 431 "), transport.written[:40]
    _, transport = served_connection(settings)
    # Not one byte: the header deadline expires.
    await asyncio.sleep(settings.header_read_timeout + 0.3)
    assert transport.written.startswith(b"HTTP/1.1 408 "), transport.written[:40]


@pytest.fixture
def database(tmp_path: Path) -> str:
    db_url = f"sqlite:///{tmp_path / 'switch.db'}"
    run_migrations(db_url)
    return db_url


async def refused_by_the_app(settings: Settings, token_for: TokenMinter) -> None:
    app = create_app(settings)
    limit: SubjectLimit = app.state[SUBJECT_LIMIT_STATE]
    transport = httpx.ASGITransport(app=serving_stack(app))
    release = asyncio.Event()
    alice, bob, carol = new_user("switch"), new_user("switch"), new_user("switch")

    def auth(subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(subject)}", "Content-Type": "application/json"}

    async def held_body(reading: asyncio.Event) -> AsyncIterator[bytes]:
        # Read by the handler, so past both limits; in flight until the test releases its body.
        reading.set()
        await release.wait()
        yield json.dumps(order_body()).encode()

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/orders", headers=auth(alice))).status_code == 200
        reading = asyncio.Event()
        alice_post = client.post("/orders", content=held_body(reading), headers=auth(alice))
        held_alice = asyncio.create_task(alice_post)
        await reading.wait()
        assert limit.in_flight == {alice: 1}
        second = await client.get("/orders", headers=auth(alice))
        assert (second.status_code, second.json()["detail"]) == (503, SUBJECT_OVERLOADED)
        reading = asyncio.Event()
        held_bob = asyncio.create_task(client.post("/orders", content=held_body(reading), headers=auth(bob)))
        await reading.wait()
        third = await client.get("/orders", headers=auth(carol))
        assert (third.status_code, third.json()["detail"]) == (503, OVERLOADED)
        release.set()
        assert [(await held).status_code for held in (held_alice, held_bob)] == [201, 201]

        assert (await client.get("/orders")).status_code == 401

        locker = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            outage = await client.post("/orders", json=order_body(), headers=auth(carol))
        finally:
            locker.close()
        assert (outage.status_code, outage.json()["detail"]) == (503, DATABASE_UNAVAILABLE)
    await app.state.database.dispose()


async def counted(db_url: str, keys: KeyPair, token_for: TokenMinter, *, enabled: bool) -> Changes:
    """What the refusals, the 401 and the outage moved, with METRICS_ENABLED set to `enabled`."""
    settings = Settings(
        db_url=db_url,
        jwt_public_key_file=keys.public_key,
        migrate_on_start=False,
        metrics_enabled=enabled,
        max_concurrency=2,
        max_concurrency_per_subject=1,
        sqlite_busy_timeout=0.2,
        max_header_bytes=1024,
        header_read_timeout=0.2,
    )
    before = orders_values()
    await refused_by_the_app(settings, token_for)
    await refused_by_the_server(settings)
    return moved(before, orders_values())


async def test_with_metrics_disabled_nothing_is_counted(
    database: str, keys: KeyPair, token_for: TokenMinter
) -> None:
    assert await counted(database, keys, token_for, enabled=False) == {}


async def test_with_metrics_enabled_each_refusal_is_counted(
    database: str, keys: KeyPair, token_for: TokenMinter
) -> None:
    changes = await counted(database, keys, token_for, enabled=True)
    assert changes["orders_http_requests_shed_total"] == {
        (("limit", "subject"),): 1,
        (("limit", "concurrency"),): 1,
        (("limit", "header_size"),): 1,
        (("limit", "timeout"),): 1,
    }
    assert changes["orders_auth_failures_total"] == {(("reason", MISSING),): 1}
    assert changes["orders_db_unavailable_total"] == {(): 1}
    assert changes["orders_placed_total"] == {(): 2}
