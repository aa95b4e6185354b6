"""The async engine, chosen from DB_URL, and the per-process database handle."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from orders_app.db.errors import DatabaseUnavailable, reported_as_unavailable
from orders_app.db.order_version import KEEPS_ORDER_VERSION
from orders_app.db.sqlite import SERVING_PRAGMAS, SQLITE_BEGIN, create_sqlite_engine
from orders_app.db.url import async_url, is_sqlite
from orders_app.settings import Settings

# Each aiosqlite connection is a thread with its own page cache. No overflow beyond it, for the same
# reason as DB_MAX_OVERFLOW's default of 0 (settings.py).
SQLITE_POOL_SIZE = 8

# How a unit of work's session gets its connection. Sessions start as readers: single SELECTs, each of
# which reads one consistent snapshot, so no transaction around them and no BEGIN and ROLLBACK round
# trips (PostgreSQL autocommit; on SQLite, no BEGIN). The session factory's engine carries these
# options, so a read asks for nothing. Writers ask for theirs before their first statement: SQLite
# takes its write lock when the transaction begins (BEGIN IMMEDIATE) instead of failing later when a
# read upgrades to a write; PostgreSQL is named its default level, as the factory's engine says autocommit.
SQLITE_READ_OPTIONS = {SQLITE_BEGIN: None}
SQLITE_WRITE_OPTIONS = {SQLITE_BEGIN: "BEGIN IMMEDIATE"}
POSTGRES_READ_OPTIONS = {"isolation_level": "AUTOCOMMIT"}
POSTGRES_WRITE_OPTIONS = {"isolation_level": "READ COMMITTED"}


def _sqlite_in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.db_url)
    if is_sqlite(url):
        engine = _create_sqlite_engine(url, settings)
    else:
        engine = create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            # No pool_pre_ping: for asyncpg it costs three round trips per checkout (BEGIN, a no-op
            # statement, ROLLBACK), more than the request's own query. _replace_closed_connections
            # catches the same dead connections without a round trip.
            pool_recycle=1800,
            connect_args={
                "timeout": settings.db_connect_timeout,
                "command_timeout": settings.db_statement_timeout,
                "server_settings": {"application_name": "orders-app", **KEEPS_ORDER_VERSION},
            },
        )
        event.listen(engine.sync_engine, "checkout", _replace_closed_connections)
    return engine


def _replace_closed_connections(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no connection that the server has already closed (restart, failover, idle kill).

    The one place that asks the driver itself (asyncpg's is_closed()): a server that goes away closes
    its sockets, and asyncpg notices on the event loop as soon as that happens, so this costs no round
    trip. DisconnectionError makes the pool discard this connection and check out another (up to three
    times), so the request never sees it. A connection that dies silently (a network partition with no
    FIN) is still only found by its first statement, which then fails with 503 and is discarded.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _create_sqlite_engine(url: URL, settings: Settings) -> AsyncEngine:
    options: dict[str, Any] = {}
    if _sqlite_in_memory(url):
        # Every new connection to ":memory:" would be a new, empty database: share one.
        options["poolclass"] = StaticPool
    else:
        # SQLite runs one writer at a time anyway: a small pool keeps memory down without starving readers.
        options.update(
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=0,
            pool_timeout=settings.db_pool_timeout,
            # No ROLLBACK when a connection goes back to the pool (each one a hop to the connection's
            # thread): every transaction here is SQLAlchemy's own, and closing the session or the
            # Connection that began it has already rolled it back.
            pool_reset_on_return=None,
        )
    return create_sqlite_engine(
        url, busy_timeout=settings.sqlite_busy_timeout, begin="BEGIN", pragmas=SERVING_PRAGMAS, **options
    )


class PoolObserver(Protocol):
    """What the database handle reports about its pool (orders_app.observability implements it)."""

    def connections_in_use(self, count: int) -> None: ...

    def waiting(self, delta: int) -> None: ...

    def wait_timed_out(self) -> None: ...


class _Unobserved:
    def connections_in_use(self, count: int) -> None:
        pass

    def waiting(self, delta: int) -> None:
        pass

    def wait_timed_out(self) -> None:
        pass


def observe_pool(engine: AsyncEngine, observer: PoolObserver) -> None:
    """Report the checked-out connections on every checkout and checkin (SQLAlchemy pool events).

    The records in use are kept by identity rather than counted up and down: a checkout that fails
    after the event (every retried connection closed) still checks in, and a count would drift.
    """
    in_use: set[int] = set()

    def checked_out(_dbapi: Any, record: Any, _proxy: Any) -> None:
        in_use.add(id(record))
        observer.connections_in_use(len(in_use))

    def checked_in(_dbapi: Any, record: Any) -> None:
        in_use.discard(id(record))
        observer.connections_in_use(len(in_use))

    event.listen(engine.sync_engine, "checkout", checked_out)
    event.listen(engine.sync_engine, "checkin", checked_in)


@dataclass(slots=True)
class Database:
    """Everything the process shares for database access: one engine, pool and session factory."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # SQLite allows one writer at a time. Writers of this process queue on this lock instead of
    # spinning in SQLite's busy handler; other processes are still covered by the busy timeout.
    write_lock: asyncio.Lock | None
    # Admits as many units of work as the pool has connections, in arrival order: the pool's own wait
    # is not fair, so one request could wait out the pool timeout (docs/bench.md).
    checkout_gate: asyncio.Semaphore
    checkout_timeout: float
    observer: PoolObserver = field(default_factory=_Unobserved)

    @property
    def is_sqlite(self) -> bool:
        return self.write_lock is not None

    @property
    def write_options(self) -> dict[str, Any]:
        return SQLITE_WRITE_OPTIONS if self.is_sqlite else POSTGRES_WRITE_OPTIONS

    async def wait_for_turn(self) -> None:
        """Take one of the pool's connection permits, waiting in line for at most `checkout_timeout`.

        Every unit of work holds one permit from start to end; give it back with `end_turn()`.
        DatabaseUnavailable when the wait times out.
        """
        if not self.checkout_gate.locked():
            # A free permit is taken without waiting; a timer would only be armed and cancelled.
            await self.checkout_gate.acquire()
            return
        self.observer.waiting(1)
        try:
            async with asyncio.timeout(self.checkout_timeout):
                await self.checkout_gate.acquire()
        except TimeoutError:
            self.observer.wait_timed_out()
            raise DatabaseUnavailable("timed out waiting for a database connection") from None
        finally:
            self.observer.waiting(-1)

    def end_turn(self) -> None:
        self.checkout_gate.release()

    async def ping(self) -> None:
        """Run a trivial query; DatabaseUnavailable when the database cannot answer it."""
        with reported_as_unavailable():
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_database(settings: Settings, observer: PoolObserver | None = None) -> Database:
    """Create the engine and the session factory. Nothing connects until the first query."""
    engine = create_engine(settings)
    if observer is not None:
        observe_pool(engine, observer)
    sqlite = engine.dialect.name == "sqlite"
    pool_bound = settings.db_pool_size + max(settings.db_max_overflow, 0)
    connections = SQLITE_POOL_SIZE if sqlite else pool_bound
    return Database(
        engine=engine,
        # Objects stay readable after commit (the use case returns the order it just saved) without a
        # reload; the repository flushes explicitly, so autoflush before each query would only cost.
        sessions=async_sessionmaker(
            engine.execution_options(**(SQLITE_READ_OPTIONS if sqlite else POSTGRES_READ_OPTIONS)),
            expire_on_commit=False,
            autoflush=False,
        ),
        write_lock=asyncio.Lock() if sqlite else None,
        checkout_gate=asyncio.Semaphore(max(connections, 1)),
        checkout_timeout=settings.db_pool_timeout,
        observer=observer or _Unobserved(),
    )
