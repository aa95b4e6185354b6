"""Units of work wait for a database connection in arrival order, and for a bounded time.

The pool's own wait lets a late request take a connection that was returned for an earlier one; under
a steady overload that left one request waiting the whole pool timeout. Checkout is gated first come,
first served, and a request that cannot get a connection in time gets DatabaseUnavailable (a 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orders_app.db.engine import Database, open_database
from orders_app.db.errors import DatabaseUnavailable
from orders_app.settings import Settings
from tests.conftest import Backend


@pytest.fixture
async def two_connections(backend: Backend) -> AsyncIterator[Database]:
    # PostgreSQL: a pool of exactly two; SQLite's pool size is fixed, so its gate is narrowed to two.
    database = open_database(
        Settings(db_url=backend.url, db_pool_size=2, db_max_overflow=0, db_pool_timeout=1)
    )
    database.checkout_gate = asyncio.Semaphore(2)
    yield database
    await database.dispose()


async def test_waiting_requests_get_connections_in_arrival_order(two_connections: Database) -> None:
    held = [await two_connections.checkout() for _ in range(2)]
    served: list[int] = []

    async def request(number: int) -> None:
        connection = await two_connections.checkout()
        served.append(number)
        # Hand the connection on only after a later arrival has had the chance to jump the queue.
        await asyncio.sleep(0.01)
        await two_connections.checkin(connection)

    waiting = [asyncio.create_task(request(number)) for number in range(6)]
    await asyncio.sleep(0.05)
    for connection in held:
        await two_connections.checkin(connection)
    await asyncio.gather(*waiting)

    assert served == list(range(6))


async def test_a_request_that_cannot_get_a_connection_in_time_is_told_the_database_is_unavailable(
    two_connections: Database,
) -> None:
    held = [await two_connections.checkout() for _ in range(2)]
    started = asyncio.get_running_loop().time()

    with pytest.raises(DatabaseUnavailable, match="timed out waiting for a database connection"):
        await two_connections.checkout()

    assert 0.9 < asyncio.get_running_loop().time() - started < 3
    for connection in held:
        await two_connections.checkin(connection)
    # The permits came back: the gate is not left narrower by the timeout.
    again = [await two_connections.checkout() for _ in range(2)]
    for connection in again:
        await two_connections.checkin(connection)
