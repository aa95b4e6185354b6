"""SELECTs compiled once by SQLAlchemy and run on the database driver's own connection.

SQLAlchemy stays the author of every statement (tables, types, dialect-specific SQL) and owns the
engine, the pool and every write. What this skips, for the read-only requests that dominate traffic,
is SQLAlchemy's per-execution machinery: the greenlet hop, the execution context, the cursor adapter
and the result object. On this project's benchmark that machinery cost about 1.6 times as much CPU
as asyncpg's own query on PostgreSQL, and on SQLite it added two thread hops per statement (see
docs/bench.md). Parameters and results go through the same SQLAlchemy type processors as before,
looked up once when the statement is compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Select

Processor = Callable[[Any], Any] | None


class CompiledRead:
    """One SELECT, compiled for one dialect, ready to run on an asyncpg or aiosqlite connection."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name} does not use positional parameters")
        self.sql = compiled.string
        # Values SQLAlchemy renders as parameters of its own (SQLite's `OFFSET ?` after a LIMIT).
        self._defaults = {name: value for name, value in compiled.params.items() if value is not None}
        self._parameters: list[tuple[str, Processor]] = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup
        ]
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]
        # Only the columns that need converting (on PostgreSQL, just the UTC timestamp).
        self._conversions = [
            (index, process) for index, process in enumerate(processors) if process is not None
        ]
        self._asyncpg = dialect.driver == "asyncpg"
        if not self._asyncpg and dialect.driver != "aiosqlite":
            raise ValueError(f"no direct read path for the {dialect.driver} driver")

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = {**self._defaults, **parameters} if self._defaults else parameters
        return [
            value if process is None else process(value)
            for name, process in self._parameters
            for value in (values[name],)
        ]

    async def fetch(self, driver_connection: Any, parameters: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """All rows, each a sequence of column values in select order, converted as SQLAlchemy would."""
        arguments = self.arguments(parameters)
        if self._asyncpg:
            rows = await driver_connection.fetch(self.sql, *arguments)
        else:
            rows = await driver_connection.execute_fetchall(self.sql, arguments)
        conversions = self._conversions
        if not conversions:
            return list(rows)
        converted = []
        for row in rows:
            values = list(row)
            for index, process in conversions:
                values[index] = process(values[index])
            converted.append(values)
        return converted
