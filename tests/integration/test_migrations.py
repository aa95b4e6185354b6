"""Alembic owns the schema: migrations run on both backends, twice harmlessly, and match the models."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orders_app.db.engine import async_url
from orders_app.db.tables import metadata
from tests.conftest import Backend, run_migrations


def _schema_diff_and_tables(url: str) -> tuple[list[Any], set[str], str | None]:
    async def inspect_schema() -> tuple[list[Any], set[str], str | None]:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:

                def compare(sync_connection: Any) -> tuple[list[Any], set[str], str | None]:
                    context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                    tables = set(inspect(sync_connection).get_table_names())
                    return compare_metadata(context, metadata), tables, context.get_current_revision()

                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, inspect_schema()).result()


def test_the_migrated_schema_equals_the_models(backend: Backend) -> None:
    diff, tables, revision = _schema_diff_and_tables(backend.url)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {"orders", "order_items", "alembic_version"} <= tables
    assert revision is not None


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
