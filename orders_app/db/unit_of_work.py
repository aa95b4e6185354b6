"""The unit of work: owns one connection and its repositories; commits explicitly, rolls back otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection

from orders_app.db.engine import SQLITE_BEGIN_IMMEDIATE, Database
from orders_app.db.errors import DatabaseUnavailable, is_unavailability
from orders_app.db.repository import OrderRepository


class SqlUnitOfWork:
    """`async with uow:` opens a transaction; leaving the block without `commit()` rolls it back.

    Mutating use cases call `begin_write()` before their first statement. On SQLite that takes the
    database's write lock up front (BEGIN IMMEDIATE, queued behind this process's other writers), so
    concurrent read-modify-write cycles serialise instead of losing updates; PostgreSQL gets the same
    guarantee from row locks taken by `orders.get(..., for_update=True)`.

    A plain AsyncConnection, not an ORM session: the repository speaks SQLAlchemy Core and maps rows to
    domain objects itself, so the session's identity map and state tracking were pure per-request cost.
    """

    orders: OrderRepository

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: AsyncConnection | None = None
        self._holds_write_lock = False

    async def __aenter__(self) -> Self:
        # Checking out from the pool opens nothing new; the connection begins its transaction lazily.
        self._connection = await self._database.checkout()
        # Until begin_write(), reads run without BEGIN and ROLLBACK, each a single statement that sees
        # one snapshot: a read-only transaction bought nothing but extra round trips (thread hops on
        # SQLite).
        self.orders = OrderRepository(
            self._connection, self._database.compiled, lock_rows=not self._database.is_sqlite
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self._require_connection()
        try:
            # Rolls back a transaction still open (nothing of a failed or abandoned operation persists)
            # and returns the connection to the pool.
            await self._database.checkin(connection)
        except Exception as cleanup_error:
            # With the database gone the rollback fails too; the original error is the one to report.
            if not is_unavailability(cleanup_error):
                raise
            if exc is None:
                raise _unavailable(cleanup_error) from cleanup_error
        finally:
            self._connection = None
            self._release_write_lock()
        if exc is not None and is_unavailability(exc):
            raise _unavailable(exc) from exc

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            lock = self._database.write_lock
            assert lock is not None
            lock.release()

    async def begin_write(self) -> None:
        connection = self._require_connection()
        # SQLAlchemy begins the transaction with the first statement the repository sends through it.
        self.orders.use_transaction()
        if not self._database.is_sqlite:
            return
        lock = self._database.write_lock
        if lock is None or self._holds_write_lock:
            return
        await lock.acquire()
        self._holds_write_lock = True
        # Must precede the first statement: the "begin" listener reads it when the transaction starts.
        await connection.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})

    async def commit(self) -> None:
        await self._require_connection().commit()

    def _require_connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._connection


def _unavailable(error: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(str(error) or type(error).__name__)
