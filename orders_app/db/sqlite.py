"""SQLite's connection and transaction control, installed the same way on the serving and migration engines.

SQLAlchemy, not the sqlite3 module, decides when a transaction begins and with which statement: a
connection's SQLITE_BEGIN execution option names it (None: no transaction, each statement on its own),
and the engine's `begin` is the statement otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Execution option naming the statement that begins a SQLite transaction; None begins none.
SQLITE_BEGIN = "orders_sqlite_begin"

SERVING_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    # WAL lets readers run beside a writer; NORMAL sync is durable across a process crash in WAL mode.
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
)


def create_sqlite_engine(
    url: URL, *, busy_timeout: float, begin: str, pragmas: Sequence[str] = (), **options: Any
) -> AsyncEngine:
    """An aiosqlite engine: each connection waits up to `busy_timeout` seconds for another's write lock,
    runs `pragmas` once when it opens, and begins its transactions with `begin` unless its SQLITE_BEGIN
    option says otherwise. `options` go to create_async_engine (the pool)."""
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout}, **options)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        if pragmas:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

    def on_begin(connection: Any) -> None:
        statement = connection.get_execution_options().get(SQLITE_BEGIN, begin)
        if statement is not None:
            connection.exec_driver_sql(statement)

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)
    return engine
