"""Units of work wait for a database connection in arrival order, and for a bounded time.

The pool's own wait lets a late request take a connection that was returned for an earlier one; under
a steady overload that left one request waiting the whole pool timeout. Checkout is gated first come,
first served, and a request that cannot get a connection in time gets DatabaseUnavailable (a 503).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from orders_app.db.engine import Database, open_database
from orders_app.db.errors import DatabaseUnavailable
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.settings import Settings
from tests.conftest import Backend
from tests.factories import new_user


@pytest.fixture
async def two_connections(backend: Backend) -> AsyncIterator[Database]:
    # PostgreSQL: a pool of exactly two; SQLite's pool size is fixed, so its gate is narrowed to two.
    database = open_database(
        Settings(db_url=backend.url, db_pool_size=2, db_max_overflow=0, db_pool_timeout=1)
    )
    database.checkout_gate = asyncio.Semaphore(2)
    yield database
    await database.dispose()


async def _enter(database: Database, count: int) -> list[SqlUnitOfWork]:
    units = [SqlUnitOfWork(database) for _ in range(count)]
    for unit in units:
        await unit.__aenter__()
        await unit.orders.get(new_user(), uuid.uuid4())  # really holding a connection
    return units


async def _leave(units: list[SqlUnitOfWork]) -> None:
    for unit in units:
        await unit.__aexit__(None, None, None)


async def test_waiting_units_of_work_get_connections_in_arrival_order(two_connections: Database) -> None:
    held = await _enter(two_connections, 2)
    served: list[int] = []

    async def request(number: int) -> None:
        async with SqlUnitOfWork(two_connections) as uow:
            served.append(number)
            await uow.orders.get(new_user(), uuid.uuid4())
            # Hand the connection on only after a later arrival has had the chance to jump the queue.
            await asyncio.sleep(0.01)

    waiting = [asyncio.create_task(request(number)) for number in range(6)]
    await asyncio.sleep(0.05)
    assert served == []
    await _leave(held)
    await asyncio.gather(*waiting)

    assert served == list(range(6))


async def test_a_request_that_cannot_get_a_connection_in_time_is_told_the_database_is_unavailable(
    two_connections: Database,
) -> None:
    held = await _enter(two_connections, 2)
    started = asyncio.get_running_loop().time()

    with pytest.raises(DatabaseUnavailable, match="timed out waiting for a database connection"):
        async with SqlUnitOfWork(two_connections):
            pass

    assert 0.9 < asyncio.get_running_loop().time() - started < 3
    await _leave(held)
    # The permits came back: the gate is not left narrower by the timeout.
    await _leave(await _enter(two_connections, 2))
