"""Alembic owns the schema: migrations run on both backends, twice harmlessly, and match the models."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orders_app.db.migrations import alembic_config
from orders_app.db.tables import metadata, order_items_table, orders_table
from orders_app.db.url import async_url
from orders_app.domain.limits import OWNER_MAX_LENGTH, PRODUCT_MAX_LENGTH
from tests.conftest import Backend, run_migrations

T = TypeVar("T")


def _on_database(url: str, read: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def _schema_diff_and_tables(url: str) -> tuple[list[Any], set[str], str | None]:
    def compare(connection: Connection) -> tuple[list[Any], set[str], str | None]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        tables = set(inspect(connection).get_table_names())
        return compare_metadata(context, metadata), tables, context.get_current_revision()

    return _on_database(url, compare)


def _column_lengths(connection: Connection) -> dict[str, int | None]:
    inspector = inspect(connection)
    return {
        f"{table}.{column['name']}": getattr(column["type"], "length", None)
        for table in ("orders", "order_items")
        for column in inspector.get_columns(table)
    }


def test_the_migrated_schema_equals_the_models(backend: Backend) -> None:
    diff, tables, revision = _schema_diff_and_tables(backend.url)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {"orders", "order_items", "alembic_version"} <= tables
    assert revision is not None


def test_the_models_and_the_migrated_schema_hold_the_limits(backend: Backend) -> None:
    # The migrations spell the lengths as numbers (they are history); the models take them from the limits.
    limits = {"orders.owner": OWNER_MAX_LENGTH, "order_items.product": PRODUCT_MAX_LENGTH}
    modelled = {
        f"{column.table.name}.{column.name}": getattr(column.type, "length", None)
        for column in (orders_table.c.owner, order_items_table.c.product)
    }
    assert modelled == limits
    assert limits.items() <= _on_database(backend.url, _column_lengths).items()


def test_migrating_again_is_harmless(backend: Backend) -> None:
    _, _, before = _schema_diff_and_tables(backend.url)
    run_migrations(backend.url)
    diff, _, after = _schema_diff_and_tables(backend.url)
    assert diff == []
    assert after == before


def test_migrations_build_a_fresh_database_from_nothing(make_sqlite_database: Any) -> None:
    url = make_sqlite_database()
    run_migrations(url)
    diff, tables, _ = _schema_diff_and_tables(url)
    assert diff == []
    assert {"orders", "order_items"} <= tables


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest) -> str:
    """A database of its own, without any revision, on each backend (these tests move its schema)."""
    maker = "make_sqlite_database" if request.param == "sqlite" else "make_postgres_database"
    url: str = request.getfixturevalue(maker)()
    return url


def _migrate(url: str, direction: Callable[..., None], revision: str) -> None:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(direction, alembic_config(url), revision).result()


def _insert_as_the_first_release(connection: Connection) -> None:
    # The columns the first release writes, and nothing else.
    connection.execute(
        text("INSERT INTO orders (id, owner, status, created) VALUES (:id, 'alice', 'created', :created)"),
        {"id": uuid.uuid4().hex if connection.dialect.name == "sqlite" else uuid.uuid4(), "created": _NOW},
    )
    connection.commit()


_NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _versions(connection: Connection) -> list[int]:
    return list(connection.execute(text("SELECT version FROM orders")).scalars())


def _columns_and_tables(connection: Connection) -> tuple[set[str], set[str]]:
    inspector = inspect(connection)
    return {column["name"] for column in inspector.get_columns("orders")}, set(inspector.get_table_names())


def test_the_second_revision_only_adds_and_the_first_release_keeps_writing(empty_database: str) -> None:
    _migrate(empty_database, command.upgrade, "0001")
    _on_database(empty_database, _insert_as_the_first_release)

    _migrate(empty_database, command.upgrade, "0002")
    _on_database(empty_database, _insert_as_the_first_release)

    assert _on_database(empty_database, _versions) == [1, 1]
    columns, tables = _columns_and_tables_of(empty_database)
    assert "version" in columns
    assert "idempotency_keys" in tables
    diff, _, revision = _schema_diff_and_tables(empty_database)
    assert (diff, revision) == ([], "0002")


def test_the_second_revision_downgrades_keeping_the_orders_and_upgrades_again(empty_database: str) -> None:
    _migrate(empty_database, command.upgrade, "0002")
    _on_database(empty_database, _insert_as_the_first_release)

    _migrate(empty_database, command.downgrade, "0001")
    columns, tables = _columns_and_tables_of(empty_database)
    assert columns == {"id", "owner", "status", "created"}
    assert "idempotency_keys" not in tables
    assert _on_database(empty_database, _count_orders) == 1

    _migrate(empty_database, command.upgrade, "head")
    assert _on_database(empty_database, _versions) == [1]
    diff, _, _ = _schema_diff_and_tables(empty_database)
    assert diff == []


def _columns_and_tables_of(url: str) -> tuple[set[str], set[str]]:
    return _on_database(url, _columns_and_tables)


def _count_orders(connection: Connection) -> int:
    return int(connection.execute(text("SELECT count(*) FROM orders")).scalar_one())
