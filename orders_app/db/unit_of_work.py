"""The unit of work: owns the connection and its repositories; commits explicitly, rolls back otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection

from orders_app.db.engine import SQLITE_BEGIN_IMMEDIATE, Database
from orders_app.db.errors import is_unavailability, unavailable
from orders_app.db.repository import OrderRepository


class SqlUnitOfWork:
    """`async with uow:` opens a transaction; leaving the block without `commit()` rolls it back.

    Mutating use cases call `begin_write()` before their first statement. On SQLite that takes the
    database's write lock up front (BEGIN IMMEDIATE, queued behind this process's other writers), so
    concurrent read-modify-write cycles serialise instead of losing updates; PostgreSQL gets the same
    guarantee from row locks taken by `orders.get(..., for_update=True)`.

    The connection is taken from the pool when the repository first needs it, in one of two forms. A
    unit of work that writes gets a SQLAlchemy AsyncConnection, which begins the transaction with its
    first statement. One that only reads gets the pooled driver connection itself, on which each read
    is a single SELECT without BEGIN or ROLLBACK (CompiledRead): SQLAlchemy's Connection object, and
    the transaction it would open, cost more than such a request's whole query (docs/bench.md). Either
    way the unit of work holds one of the pool's permits (Database.wait_for_turn) from start to end.

    Not an ORM session: the repository speaks SQLAlchemy Core and maps rows to domain objects itself,
    so the session's identity map and state tracking were pure per-request cost.
    """

    orders: OrderRepository

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: AsyncConnection | None = None
        self._raw: PoolProxiedConnection | None = None
        self._writing = False
        self._holds_write_lock = False
        self._active = False

    async def __aenter__(self) -> Self:
        await self._database.wait_for_turn()
        self._active = True
        self.orders = OrderRepository(self, self._database.compiled, lock_rows=not self._database.is_sqlite)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        failed_unavailable = exc is not None and is_unavailability(exc)
        connection, raw = self._connection, self._raw
        self._connection = self._raw = None
        try:
            # Closing rolls back a transaction still open (nothing of a failed or abandoned operation
            # persists) and returns the connection to the pool.
            if connection is not None:
                await connection.close()
            if raw is not None:
                await self._database.release_raw(raw, invalidate=failed_unavailable)
        except Exception as cleanup_error:
            # With the database gone the rollback fails too; the original error is the one to report.
            if not is_unavailability(cleanup_error):
                raise
            if exc is None:
                raise unavailable(cleanup_error) from cleanup_error
        finally:
            self._active = False
            self._release_write_lock()
            self._database.end_turn()
        if failed_unavailable:
            assert exc is not None
            raise unavailable(exc) from exc

    @property
    def writing(self) -> bool:
        """Whether begin_write() was called: every statement then runs in the transaction."""
        return self._writing

    async def connection(self) -> AsyncConnection:
        """The SQLAlchemy connection whose transaction the writes (and reads that lock) run in."""
        self._require_active()
        if self._connection is None:
            if self._raw is not None:
                # Reads done, now a transaction: one connection at a time per unit of work.
                raw, self._raw = self._raw, None
                await self._database.release_raw(raw)
            self._connection = await self._database.connect()
        return self._connection

    async def driver_connection(self) -> Any:
        """The pooled driver connection (asyncpg, aiosqlite) for reads outside a transaction."""
        self._require_active()
        if self._raw is None:
            self._raw = await self._database.raw_connection()
        return self._raw.driver_connection

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            lock = self._database.write_lock
            assert lock is not None
            lock.release()

    async def begin_write(self) -> None:
        self._require_active()
        self._writing = True
        if not self._database.is_sqlite:
            return
        lock = self._database.write_lock
        if lock is None or self._holds_write_lock:
            return
        await lock.acquire()
        self._holds_write_lock = True
        connection = await self.connection()
        # Must precede the first statement: the "begin" listener reads it when the transaction starts.
        await connection.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})

    async def commit(self) -> None:
        self._require_active()
        if self._connection is not None:
            await self._connection.commit()

    def _require_active(self) -> None:
        if not self._active:
            raise RuntimeError("the unit of work is used outside its `async with` block")
