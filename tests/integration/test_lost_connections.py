"""A connection the server drops in the middle of a unit of work: "unavailable", never a 500, never reused.

Every statement runs through SQLAlchemy, which wraps the driver's errors and tells, through the
dialect's disconnect detection, when the connection is gone (`connection_invalidated`). The server
here kills the backend of the connection a unit of work is holding (as a failover or an administrator
would).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

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


async def _backend_pid(uow: SqlUnitOfWork) -> int:
    """The server process behind the unit of work's connection, asked on that connection."""
    pid = await uow.session.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


@pytest.mark.postgres
async def test_a_read_on_a_killed_connection_is_unavailable_and_the_next_one_succeeds(
    database: Database, postgres_url: str
) -> None:
    owner = new_user()
    order = await use_cases.place_order(SqlUnitOfWork(database), owner, [OrderItem("latte", Size.SMALL, 1)])

    async def read_twice_with_the_connection_killed_between() -> None:
        async with SqlUnitOfWork(database) as uow:
            assert await uow.orders.get(owner, order.id) == order
            await _kill_backend(postgres_url, await _backend_pid(uow))
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
            await _kill_backend(postgres_url, await _backend_pid(uow))
            loaded.pay()
            await uow.orders.save(loaded, items_changed=False)
            await uow.commit()

    with pytest.raises(DatabaseUnavailable):
        await pay_with_the_connection_killed_after_the_lock()

    assert (await use_cases.get_order(SqlUnitOfWork(database), owner, order.id)).status == order.status


def _wrapped(driver_error: Exception, **options: Any) -> DBAPIError:
    """`driver_error` as SQLAlchemy hands it on from a statement."""
    return DBAPIError.instance("SELECT 1", {}, driver_error, Exception, **options)


class _PostgresError(Exception):
    """What the asyncpg dialect wraps: the driver's error with PostgreSQL's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (_wrapped(sqlite3.OperationalError("database is locked")), True),
        (_wrapped(sqlite3.InterfaceError("connection is closed")), True),
        (_wrapped(_PostgresError("57P01"), connection_invalidated=True), True),
        (_wrapped(_PostgresError("57P03")), True),  # the server is starting up
        (_wrapped(_PostgresError("53300")), True),  # too many connections
        (_wrapped(_PostgresError("08006")), True),  # connection failure
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (PoolTimeoutError("QueuePool limit reached"), True),
        (_wrapped(sqlite3.IntegrityError("CHECK constraint failed")), False),
        (_wrapped(_PostgresError("23505")), False),  # unique violation
        (_wrapped(_PostgresError("42601")), False),  # a syntax error is a bug of ours
        (ValueError("a bug of ours"), False),
    ],
    ids=lambda value: (
        f"{type(value).__name__}:{value}"[:60] if isinstance(value, BaseException) else str(value)
    ),
)
def test_database_errors_are_told_apart_from_bugs(error: BaseException, unavailable: bool) -> None:
    assert is_unavailability(error) is unavailable


@pytest.mark.postgres
async def test_a_refused_connection_is_unavailable(postgres_url: str) -> None:
    """The server refusing a new connection (here: the role's connection limit) is a 503, not a 500."""
    role = f"orders_limited_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        limited = open_database(Settings(db_url=make_url(postgres_url).set(username=role).render_as_string()))
        try:
            with pytest.raises(DatabaseUnavailable, match="too many connections"):
                await use_cases.get_order(SqlUnitOfWork(limited), new_user(), uuid.uuid4())
        finally:
            await limited.dispose()
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


@pytest.mark.postgres
async def test_a_statement_that_times_out_is_unavailable_and_its_connection_is_discarded(
    postgres_url: str,
) -> None:
    """After DB_STATEMENT_TIMEOUT the connection's state is unknown (on a frozen server a ROLLBACK would
    wait as long again): SQLAlchemy closes it instead of pooling it, and the next unit of work gets a
    fresh one."""
    database = open_database(
        Settings(db_url=postgres_url, db_pool_size=1, db_max_overflow=0, db_statement_timeout=0.3)
    )
    try:
        async with SqlUnitOfWork(database) as uow:
            first_pid = await _backend_pid(uow)

        async def sleep_past_the_statement_timeout() -> None:
            async with SqlUnitOfWork(database) as uow:
                assert await _backend_pid(uow) == first_pid  # the pooled connection, reused
                await uow.session.execute(text("SELECT pg_sleep(2)"))

        with pytest.raises(DatabaseUnavailable):
            await sleep_past_the_statement_timeout()

        async with SqlUnitOfWork(database) as uow:
            assert await _backend_pid(uow) != first_pid
    finally:
        await database.dispose()
