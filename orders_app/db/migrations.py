"""Run Alembic migrations programmatically: wait for the database, take the migration lock, upgrade.

Two `orders-app migrate` runs started together (two compose projects' one-shot services, a Kubernetes Job
beside an init container, replicas with MIGRATE_ON_START=true) run one after the other: on PostgreSQL
behind a transaction-scoped advisory lock, on SQLite behind `BEGIN IMMEDIATE` (the database file's write
lock, held until the migration commits). The second one then finds the schema current and does nothing.
A schema already at this build's head is seen with two plain statements, before Alembic is imported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from orders_app.db.errors import is_unavailability
from orders_app.db.revision import SchemaScripts, migrations_directory
from orders_app.db.sqlite import create_sqlite_engine
from orders_app.db.url import async_url, is_sqlite

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger("orders_app.migrations")

# Any fixed number works; every orders-app process that migrates the same database uses this one.
MIGRATION_LOCK_KEY = 0x0_0DE55_A11

# Retry delays while the database is not reachable: 0.5 s, doubling, at most this much.
WAIT_FIRST_DELAY = 0.5
WAIT_MAX_DELAY = 5.0


class DatabaseNotReachable(Exception):
    """The database did not accept a connection within the wait; the message is one line for operators."""


def alembic_config(db_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    # env.py reads the URL from here first, so the CLI and tests never depend on the process environment.
    config.attributes["db_url"] = db_url
    return config


# --- waiting for the database -------------------------------------------------------------------


def migration_engine(url: URL, *, connect_timeout: float, lock_wait: float) -> AsyncEngine:
    """One connection, no pool; on SQLite every transaction takes the write lock when it begins."""
    if not is_sqlite(url):
        return create_async_engine(url, poolclass=NullPool, connect_args={"timeout": connect_timeout})
    # BEGIN IMMEDIATE: otherwise two migrations both read "no revision" and both create the tables. The
    # busy timeout is how long the second one waits for the first one's write lock. No pragmas: foreign
    # keys stay off while batch mode rebuilds tables.
    return create_sqlite_engine(url, busy_timeout=lock_wait, begin="BEGIN IMMEDIATE", poolclass=NullPool)


async def connect_when_reachable(
    engine: AsyncEngine,
    *,
    wait_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> AsyncConnection:
    """Connect, retrying with backoff while the database is unreachable, for at most `wait_seconds`.

    One log line per failed attempt. DatabaseNotReachable when the time is up; any other error (wrong
    password, unknown database) at once, since waiting would not fix it.
    """
    where = engine.url.render_as_string(hide_password=True)
    started = clock()
    delay = WAIT_FIRST_DELAY
    attempt = 0
    while True:
        attempt += 1
        try:
            return await engine.connect()
        except PermissionError:
            # A local file the driver reads (asyncpg: ~/.postgresql/*) is unreadable; waiting cannot fix it.
            raise
        except Exception as error:
            if not is_unavailability(error):
                raise
            reason = _one_line(error)
        elapsed = clock() - started
        left = wait_seconds - elapsed
        if left <= 0:
            raise DatabaseNotReachable(
                f"the database at {where} was not reachable within DB_WAIT_TIMEOUT={wait_seconds:g}s "
                f"({attempt} attempts); last error: {reason}"
            )
        pause = min(delay, left)
        logger.warning(
            "waiting for the database at %s: attempt %d failed after %.1fs of %gs (%s); next in %.1fs",
            where,
            attempt,
            elapsed,
            wait_seconds,
            reason,
            pause,
        )
        await sleep(pause)
        delay = min(delay * 2, WAIT_MAX_DELAY)


def _one_line(error: BaseException) -> str:
    cause = error.__cause__ or error
    first = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


# --- the migration ------------------------------------------------------------------------------


def hold_migration_lock(connection: Connection) -> None:
    """Inside the migration's transaction: wait for any other migration of this database to commit."""
    if connection.dialect.name != "postgresql":
        # SQLite: the transaction began with BEGIN IMMEDIATE (migration_engine), which is the lock.
        return
    key = {"key": MIGRATION_LOCK_KEY}
    if connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), key).scalar():
        return
    logger.info("another migration of this database is running; waiting for it to finish")
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)


def _upgrade(connection: Connection, db_url: str) -> None:
    schema = SchemaScripts().revision_of(connection)
    if not schema.ahead and not schema.behind:
        logger.info("%s: nothing to migrate", schema.describe())
        return
    from alembic import command

    config = alembic_config(db_url)
    # env.py runs the migrations on this connection, inside the transaction opened by engine.begin().
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def _upgrade_when_reachable(
    db_url: str, *, wait_timeout: float, connect_timeout: float, sqlite_lock_wait: float
) -> None:
    url = async_url(db_url)
    engine = migration_engine(url, connect_timeout=connect_timeout, lock_wait=sqlite_lock_wait)
    try:
        if is_sqlite(url):
            # A file needs no waiting; a missing directory is a configuration error to report at once.
            connection = await engine.connect()
        else:
            connection = await connect_when_reachable(engine, wait_seconds=wait_timeout)
        logger.info("connected to %s; taking the migration lock", url.render_as_string(hide_password=True))
        try:
            async with connection.begin():
                await connection.run_sync(_upgrade, db_url)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def upgrade_to_head(
    db_url: str,
    *,
    wait_timeout: float = 0.0,
    connect_timeout: float = 5.0,
    sqlite_lock_wait: float = 60.0,
) -> None:
    """Bring the schema to the newest revision. Idempotent; concurrent runs serialise.

    Waits up to `wait_timeout` seconds for an unreachable database (DatabaseNotReachable after that).
    Runs its own event loop: call it from synchronous code.
    """
    asyncio.run(
        _upgrade_when_reachable(
            db_url,
            wait_timeout=wait_timeout,
            connect_timeout=connect_timeout,
            sqlite_lock_wait=sqlite_lock_wait,
        )
    )
