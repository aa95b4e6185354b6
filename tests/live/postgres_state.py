"""What PostgreSQL itself says about a database during a schema change, read beside the API, not through it.

- `seed`: orders in the previous release's tables (its revision's columns only), thousands in one COPY.
- `Snapshot`: the columns of every table, each table's file node (a rewrite of the table gives it a new
  one; PostgreSQL 11+ adds a column with a constant default without one), the schema's revision, and the
  seeded orders' rows.
- `BlockingLocks`: while a migration runs, when a lock that blocks the API's reads or writes on one of
  the previous release's tables (SHARE or stronger) was held or waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

STATUSES = ("created", "paid", "progress", "cancelled", "dispatched", "delivered")
SIZES = ("small", "medium", "big")
# Lock modes that conflict with the ROW EXCLUSIVE lock every INSERT, UPDATE and DELETE takes.
BLOCKING_MODES = ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]


async def connect(db_url: str) -> asyncpg.Connection:
    url = make_url(db_url)
    return await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )


async def seed(db_url: str, owners: list[str], per_owner: int) -> dict[str, list[dict[str, Any]]]:
    """`per_owner` orders (1-3 items, every status, a month of timestamps) for each owner, newest first."""
    rng = random.Random(20261203)
    now = datetime.now(UTC).replace(microsecond=0)
    orders, items, expected = [], [], {}
    for owner in owners:
        mine = []
        for n in range(per_owner):
            order_id = uuid.uuid4()
            created = now - timedelta(days=30) + timedelta(minutes=n * 97, microseconds=rng.randrange(10**6))
            status = rng.choice(STATUSES)
            lines = [(f"seeded-{rng.randrange(50)}", rng.choice(SIZES), rng.randint(1, 5)) for _ in range(3)]
            lines = lines[: rng.randint(1, 3)]
            orders.append((order_id, owner, status, created))
            items.extend((order_id, position, *line) for position, line in enumerate(lines))
            body = [{"product": p, "size": s, "quantity": q} for p, s, q in lines]
            mine.append(
                {"id": str(order_id), "created": created.isoformat(), "status": status, "order": body}
            )
        expected[owner] = mine[::-1]
    connection = await connect(db_url)
    try:
        async with connection.transaction():
            await connection.copy_records_to_table(
                "orders", records=orders, columns=["id", "owner", "status", "created"]
            )
            await connection.copy_records_to_table(
                "order_items", records=items, columns=["order_id", "position", "product", "size", "quantity"]
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return expected


@dataclass(frozen=True)
class Snapshot:
    columns: dict[tuple[str, str], tuple[str, str, str | None]]  # (table, column) -> type, nullable, default
    file_nodes: dict[str, int]  # table -> pg_relation_filenode
    revision: tuple[str, ...]
    # The seeded owners' orders and their items, each row as {column: value}, whatever the columns are.
    seeded: dict[str, list[dict[str, Any]]]

    @property
    def tables(self) -> set[str]:
        return set(self.file_nodes)

    def seeded_rows(self, columns: Iterable[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]:
        """The seeded rows in just these (table, column)s; a column the table lacks reads as MISSING."""
        wanted = list(columns)
        projected = {
            table: [{name: row.get(name, "MISSING") for t, name in wanted if t == table} for row in rows]
            for table, rows in self.seeded.items()
        }
        return {
            table: sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))
            for table, rows in projected.items()
        }

    @classmethod
    async def take(cls, db_url: str, seeded_owners: list[str]) -> Snapshot:
        connection = await connect(db_url)
        try:
            columns = await connection.fetch(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = 'public'"
            )
            nodes = await connection.fetch(
                "SELECT relname, pg_relation_filenode(oid) AS node FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            )
            revision = await connection.fetch("SELECT version_num FROM alembic_version")
            # Whole rows as JSON: a revision that renames or drops a column shows as a difference here.
            tables = {
                name: await connection.fetch(f"SELECT to_jsonb(t)::text FROM {name} t") for name in SEEDED
            }
        finally:
            await connection.close()
        owners = set(seeded_owners)
        orders = [row for row in _rows(tables["orders"]) if row.get("owner") in owners]
        ids = {row.get("id") for row in orders}
        items = [row for row in _rows(tables["order_items"]) if row.get("order_id") in ids]
        return cls(
            columns={(r["table_name"], r["column_name"]): (r[2], r[3], r[4]) for r in columns},
            file_nodes={r["relname"]: r["node"] for r in nodes},
            revision=tuple(sorted(r["version_num"] for r in revision)),
            seeded={"orders": orders, "order_items": items},
        )


SEEDED = ("orders", "order_items")


def _rows(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [json.loads(record[0]) for record in records]


@dataclass
class BlockingLocks:
    """Polls pg_locks every `interval` seconds until stopped; `seen` holds the monotonic times it saw one."""

    db_url: str
    tables: list[str]
    interval: float = 0.005
    seen: list[float] = field(default_factory=list)
    polls: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def window(self) -> float:
        """Seconds from the first to the last poll that saw a blocking lock, plus one interval (0: none)."""
        return self.seen[-1] - self.seen[0] + self.interval if self.seen else 0.0

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[BlockingLocks]:
        polling = asyncio.ensure_future(self._watch())
        try:
            yield self
        finally:
            self._stop.set()
            await polling

    async def _watch(self) -> None:
        connection = await connect(self.db_url)
        query = (
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND c.relname = ANY($1) AND l.mode = ANY($2)"
        )
        try:
            while not self._stop.is_set():
                self.polls += 1
                if await connection.fetchval(query, self.tables, BLOCKING_MODES):
                    self.seen.append(time.monotonic())
                await asyncio.sleep(self.interval)
        finally:
            await connection.close()
