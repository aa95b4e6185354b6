"""The unit of work: one AsyncSession and its repositories; commits explicitly, rolls back otherwise."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from orders_app.db.engine import Database
from orders_app.db.errors import is_unavailability, unavailable
from orders_app.db.idempotency_keys import SqlIdempotencyKeys
from orders_app.db.repository import SqlOrderRepository


class SqlUnitOfWork:
    """`async with uow:` opens a session; `commit()` commits; leaving the block without it rolls back.

    Mutating use cases call `begin_write()` before their first statement. On SQLite that takes the
    database's write lock up front (BEGIN IMMEDIATE, queued behind this process's other writers), so
    concurrent read-modify-write cycles serialise instead of losing updates; PostgreSQL gets the same
    guarantee from the row lock taken by `orders.get(..., for_update=True)`. A unit of work that never
    calls it only reads, and its session's connection runs each SELECT on its own, with no transaction
    around it (the read options in db/engine.py).

    Each unit of work holds one of the pool's permits (Database.wait_for_turn) from start to end, so
    requests get connections in arrival order.
    """

    orders: SqlOrderRepository

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: AsyncSession | None = None
        self._idempotency_keys: SqlIdempotencyKeys | None = None
        self._writing = False
        self._holds_write_lock = False

    @property
    def session(self) -> AsyncSession:
        """The session the repositories work on (only inside the `async with` block)."""
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._session

    @property
    def idempotency_keys(self) -> SqlIdempotencyKeys:
        """Made on first use: only requests that carry an Idempotency-Key pay for it."""
        if self._idempotency_keys is None:
            self._idempotency_keys = SqlIdempotencyKeys(self.session, sqlite=self._database.is_sqlite)
        return self._idempotency_keys

    async def __aenter__(self) -> Self:
        await self._database.wait_for_turn()
        self._session = session = self._database.sessions()
        self.orders = SqlOrderRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session, self._session = self.session, None
        try:
            # Rolls back a transaction still open (nothing of a failed or abandoned operation persists)
            # and returns the connection to the pool; one the dialect found broken is discarded.
            await session.close()
        except Exception as cleanup_error:
            # With the database gone the rollback fails too; the original error is the one to report.
            if not is_unavailability(cleanup_error):
                raise
            if exc is None:
                raise unavailable(cleanup_error) from cleanup_error
        finally:
            self._release_write_lock()
            self._database.end_turn()
        if exc is not None and is_unavailability(exc):
            raise unavailable(exc) from exc

    async def begin_write(self) -> None:
        session = self.session
        if self._writing:
            return
        if session.in_transaction():
            raise RuntimeError("begin_write() must come before the unit of work's first statement")
        lock = self._database.write_lock
        if lock is not None:
            await lock.acquire()
            self._holds_write_lock = True
        # The "begin" listener of a SQLite engine reads these options as the transaction starts.
        await session.connection(execution_options=self._database.write_options)
        self._writing = True
        self.orders.allow_writes()

    async def commit(self) -> None:
        await self.session.commit()

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            lock = self._database.write_lock
            assert lock is not None
            lock.release()
