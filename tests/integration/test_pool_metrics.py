"""What the database handle reports to its PoolObserver: connections in use, waiters, timed-out waits."""

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


class Observer:
    """A PoolObserver that remembers what it was told."""

    def __init__(self) -> None:
        self.in_use: list[int] = []
        self.waiters = 0
        self.timeouts = 0

    def connections_in_use(self, count: int) -> None:
        self.in_use.append(count)

    def waiting(self, delta: int) -> None:
        self.waiters += delta

    def wait_timed_out(self) -> None:
        self.timeouts += 1


@pytest.fixture
async def observed(backend: Backend) -> AsyncIterator[tuple[Database, Observer]]:
    observer = Observer()
    settings = Settings(db_url=backend.url, db_pool_size=2, db_max_overflow=0, db_pool_timeout=0.3)
    database = open_database(settings, observer)
    database.checkout_gate = asyncio.Semaphore(2)
    yield database, observer
    await database.dispose()


async def _hold(database: Database) -> SqlUnitOfWork:
    unit = SqlUnitOfWork(database)
    await unit.__aenter__()
    await unit.orders.get(new_user(), uuid.uuid4())
    return unit


async def test_in_use_follows_checkouts_and_checkins(observed: tuple[Database, Observer]) -> None:
    database, observer = observed
    first = await _hold(database)
    second = await _hold(database)
    assert observer.in_use[-1] == 2
    await first.__aexit__(None, None, None)
    assert observer.in_use[-1] == 1
    await second.__aexit__(None, None, None)
    assert observer.in_use[-1] == 0


async def test_waiters_are_reported_and_a_wait_that_times_out_is_counted(
    observed: tuple[Database, Observer],
) -> None:
    database, observer = observed
    held = [await _hold(database), await _hold(database)]

    async def late() -> None:
        async with SqlUnitOfWork(database):
            pass

    waiters = [asyncio.create_task(late()) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert observer.waiters == 3
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(result, DatabaseUnavailable) for result in results)
    assert observer.timeouts == 3
    assert observer.waiters == 0
    for unit in held:
        await unit.__aexit__(None, None, None)
    assert observer.in_use[-1] == 0
