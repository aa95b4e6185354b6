"""A connection the server drops in the middle of a unit of work: "unavailable", never a 500, never reused.

Reads run on the driver's own connection, outside SQLAlchemy, so the driver's exceptions must be
recognised as the database going away just as SQLAlchemy's wrapped ones are. The server here kills
the backend of the connection a unit of work is holding (as a failover or an administrator would).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from orders_app.db.engine import Database, open_database
from orders_app.db.errors import DatabaseUnavailable, is_unavailability
from orders_app.db.unit_of_work import SqlUnitOfWork
from orders_app.domain.orders import OrderItem, Size
from orders_app.service import orders as use_cases
from orders_app.settings import Settings
from tests.conftest import run_migrations
from tests.factories import new_user


@pytest.fixture(scope="module")
def postgres_url(make_postgres_database: object) -> str:
    url: str = make_postgres_database()  # type: ignore[operator]
    run_migrations(url)
    return url


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[Database]:
    database = open_database(Settings(db_url=postgres_url))
    yield database
    await database.dispose()


async def _kill_backend(postgres_url: str, pid: int) -> None:
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    # Let the event loop read the server's goodbye on the killed connection.
    await asyncio.sleep(0.2)


@pytest.mark.postgres
async def test_a_read_on_a_killed_connection_is_unavailable_and_the_next_one_succeeds(
    database: Database, postgres_url: str
) -> None:
    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("latte", Size.SMALL, 1)])

    async def read_twice_with_the_connection_killed_between() -> None:
        async with SqlUnitOfWork(database) as uow:
            assert await uow.orders.get(owner, order.id) == order
            driver_connection = await uow.driver_connection()
            await _kill_backend(postgres_url, driver_connection.get_server_pid())
            await uow.orders.get(owner, order.id)

    with pytest.raises(DatabaseUnavailable):
        await read_twice_with_the_connection_killed_between()

    # The killed connection went out of the pool, not back into it: the next read just works.
    assert await use_cases.get_order(SqlUnitOfWork(database), owner, order.id) == order


@pytest.mark.postgres
async def test_a_write_on_a_killed_connection_is_unavailable_and_keeps_nothing(
    database: Database, postgres_url: str
) -> None:
    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("latte", Size.SMALL, 1)])

    async def pay_with_the_connection_killed_after_the_lock() -> None:
        async with SqlUnitOfWork(database) as uow:
            await uow.begin_write()
            loaded = await uow.orders.get(owner, order.id, for_update=True)
            assert loaded is not None
            connection = await uow.connection()
            raw = await connection.get_raw_connection()
            await _kill_backend(postgres_url, raw.driver_connection.get_server_pid())
            loaded.pay()
            await uow.orders.save(loaded, items_changed=False)
            await uow.commit()

    with pytest.raises(DatabaseUnavailable):
        await pay_with_the_connection_killed_after_the_lock()

    assert (await use_cases.get_order(SqlUnitOfWork(database), owner, order.id)).status == order.status


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (ConnectionResetError(), True),
        (sqlite3.IntegrityError("CHECK constraint failed"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (ValueError("a bug of ours"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_driver_errors_are_told_apart_from_bugs(error: BaseException, unavailable: bool) -> None:
    assert is_unavailability(error) is unavailable
