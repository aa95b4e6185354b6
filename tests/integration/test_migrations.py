"""Alembic owns the schema: migrations run on both backends, twice harmlessly, and match the models."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

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
