"""Alembic environment: the connection `orders-app migrate` hands over, or one of its own for the alembic CLI.

Either way the migrations run in one transaction behind the migration lock (orders_app.db.migrations).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from orders_app.db.migrations import hold_migration_lock, migration_engine
from orders_app.db.tables import metadata
from orders_app.db.url import async_url
from orders_app.observability.log_setup import configure_logging
from orders_app.settings import Settings


def _database_url() -> str:
    configured = context.config.attributes.get("db_url")
    return str(configured) if configured else Settings.from_env().db_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        hold_migration_lock(connection)
        context.run_migrations()


async def _run_online() -> None:
    settings = Settings.from_env()
    engine = migration_engine(
        async_url(_database_url()),
        connect_timeout=settings.db_connect_timeout,
        lock_wait=settings.db_wait_timeout,
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=async_url(_database_url()).render_as_string(hide_password=False),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (shared := context.config.attributes.get("connection")) is not None:
    # `orders-app migrate` (orders_app.db.migrations.upgrade_to_head): its connection, its transaction,
    # its logging.
    _run(shared)
else:
    # The alembic CLI configures no logging: the service's own, so its lines look like every other.
    configure_logging(Settings.from_env())
    asyncio.run(_run_online())
