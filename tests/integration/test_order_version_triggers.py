"""PostgreSQL: every change of an order advances its version, whichever release writes it.

This release advances the version in its own UPDATE (the ETag tests in tests/api cover that); a
writer that does not know the column, such as the previous release during a rolling upgrade, gets it
advanced by revision 0002's triggers. This release's connections are skipped by the triggers, so its
changes advance the version exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orders_app.db.engine import create_engine
from orders_app.settings import Settings
from tests.conftest import run_migrations

pytestmark = pytest.mark.postgres

_ADD_ITEM = (
    "INSERT INTO order_items (order_id, position, product, size, quantity) VALUES ($1, $2, 'tea', 'small', 1)"
)


@pytest.fixture
def database(make_postgres_database: Any) -> str:
    url: str = make_postgres_database()
    run_migrations(url)
    return url


@pytest.fixture
async def other_writer(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the previous release opens one: no word about who keeps the version."""
    connection = await asyncpg.connect(
        make_url(database).set(drivername="postgresql").render_as_string(False)
    )
    yield connection
    await connection.close()


async def _placed(connection: asyncpg.Connection, items: int = 2) -> uuid.UUID:
    """An order written the way the previous release writes one: the row, then its items."""
    order_id = uuid.uuid4()
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO orders (id, owner, status, created) VALUES ($1, 'alice', 'created', $2)",
            order_id,
            datetime.now(UTC),
        )
        await connection.executemany(_ADD_ITEM, [(order_id, position) for position in range(items)])
    return order_id


async def _version(connection: asyncpg.Connection, order_id: uuid.UUID) -> int:
    version: int = await connection.fetchval("SELECT version FROM orders WHERE id = $1", order_id)
    return version


async def test_each_change_by_another_writer_advances_the_version(other_writer: asyncpg.Connection) -> None:
    order_id = await _placed(other_writer)
    seen = [await _version(other_writer, order_id)]
    changes = [
        ("UPDATE orders SET status = 'paid' WHERE id = $1", (order_id,)),
        ("UPDATE order_items SET quantity = 3 WHERE order_id = $1 AND position = 0", (order_id,)),
        (_ADD_ITEM, (order_id, 2)),
        ("DELETE FROM order_items WHERE order_id = $1 AND position = 2", (order_id,)),
    ]
    for statement, arguments in changes:
        await other_writer.execute(statement, *arguments)
        seen.append(await _version(other_writer, order_id))

    assert seen == sorted(set(seen)), f"the version must advance on every change: {seen}"


async def test_an_update_that_sets_the_version_itself_keeps_it(other_writer: asyncpg.Connection) -> None:
    order_id = await _placed(other_writer)
    before = await _version(other_writer, order_id)

    await other_writer.execute(
        "UPDATE orders SET status = 'paid', version = version + 1 WHERE id = $1", order_id
    )

    assert await _version(other_writer, order_id) == before + 1


async def test_this_releases_connections_are_left_to_keep_the_version(
    database: str, other_writer: asyncpg.Connection
) -> None:
    order_id = await _placed(other_writer)
    before = await _version(other_writer, order_id)
    engine = create_engine(
        Settings(db_url=database, jwt_public_key_file="unused.pem", migrate_on_start=False)
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE order_items SET quantity = 5 WHERE order_id = :id"), {"id": order_id}
            )
            await connection.execute(
                text("UPDATE orders SET status = 'paid' WHERE id = :id"), {"id": order_id}
            )
    finally:
        await engine.dispose()

    assert await _version(other_writer, order_id) == before
