"""The orders repository: domain objects in, domain objects out; every query is scoped to an owner."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import (
    CursorResult,
    Executable,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from orders_app.db.driver_reads import CompiledRead
from orders_app.db.tables import OrderItemRecord, OrderRecord, order_items_table, orders_table
from orders_app.domain.orders import Order, OrderItem, Size, Status

_ORDER_COLUMNS = (OrderRecord.id, OrderRecord.status, OrderRecord.created)
_ITEM_COLUMNS = (
    OrderItemRecord.order_id,
    OrderItemRecord.product,
    OrderItemRecord.size,
    OrderItemRecord.quantity,
)

# The read statements are built once, with bound parameters, instead of on every call: building a
# SELECT and its cache key costs more CPU than SQLite needs to answer it (see docs/bench.md).


_GET_ORDER = (
    select(*_ORDER_COLUMNS, *_ITEM_COLUMNS[1:])
    .join(OrderItemRecord, OrderItemRecord.order_id == OrderRecord.id)
    .where(OrderRecord.id == bindparam("order_id"), OrderRecord.owner == bindparam("owner"))
    .order_by(OrderItemRecord.position)
)

# PostgreSQL writers take the order's row lock with this before reading the order (see get()).
_LOCK_ORDER = (
    select(OrderRecord.id)
    .where(OrderRecord.id == bindparam("order_id"), OrderRecord.owner == bindparam("owner"))
    .with_for_update()
)


# Writes, likewise built once: a statement built per call was a third of a POST's CPU (its values()
# clause and cache key), against a dictionary of parameters for one built here.
_INSERT_ORDER = insert(orders_table)
_INSERT_ITEMS = insert(order_items_table)
# (An UPDATE's bound parameters must not share a column's name: SQLAlchemy reserves those for SET.)
_UPDATE_STATUS = (
    update(orders_table)
    .where(orders_table.c.id == bindparam("order_id"), orders_table.c.owner == bindparam("order_owner"))
    .values(status=bindparam("new_status"))
)
_DELETE_ITEMS = delete(order_items_table).where(order_items_table.c.order_id == bindparam("order_id"))
_DELETE_ORDER = delete(orders_table).where(
    orders_table.c.id == bindparam("order_id"), orders_table.c.owner == bindparam("owner")
)


@cache
def _list_statement(cancelled: bool | None, paged: bool) -> Select[Any]:
    """A page of orders with their items in one statement (one round trip, one snapshot).

    The page itself is chosen in a subquery: newest first, ties broken by id, `paged` continuing
    after (before_created, before_id). Its items are joined to it, in the same order.
    """
    page = select(*_ORDER_COLUMNS).where(OrderRecord.owner == bindparam("owner"))
    if cancelled is True:
        page = page.where(OrderRecord.status == Status.CANCELLED.value)
    elif cancelled is False:
        page = page.where(OrderRecord.status != Status.CANCELLED.value)
    if paged:
        created = bindparam("before_created", type_=OrderRecord.created.type)
        page = page.where(
            or_(
                OrderRecord.created < created,
                and_(OrderRecord.created == created, OrderRecord.id < bindparam("before_id")),
            )
        )
    chosen = (
        page.order_by(OrderRecord.created.desc(), OrderRecord.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    return (
        select(chosen.c.id, chosen.c.status, chosen.c.created, *_ITEM_COLUMNS[1:])
        .join(OrderItemRecord, OrderItemRecord.order_id == chosen.c.id)
        .order_by(chosen.c.created.desc(), chosen.c.id.desc(), OrderItemRecord.position)
    )


class Connections(Protocol):
    """Where the repository gets its connection from (the unit of work), only when it needs one."""

    @property
    def writing(self) -> bool: ...

    async def connection(self) -> AsyncConnection: ...

    async def driver_connection(self) -> Any: ...


class OrderRepository:
    """Reads outside a transaction run on the driver's connection (CompiledRead); inside one, and
    every write, through SQLAlchemy, which begins the transaction on the first statement."""

    def __init__(
        self,
        connections: Connections,
        compiled: Callable[[Select[Any]], CompiledRead],
        *,
        lock_rows: bool,
    ) -> None:
        self._connections = connections
        self._compiled = compiled
        # PostgreSQL locks the order's row for the rest of the transaction (SELECT … FOR UPDATE);
        # SQLite has no row locks and relies on the unit of work's BEGIN IMMEDIATE instead.
        self._lock_rows = lock_rows

    async def _execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        connection = await self._connections.connection()
        return await connection.execute(statement, parameters)

    async def _rows(self, statement: Select[Any], parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        if self._connections.writing:
            rows: Sequence[Sequence[Any]] = (await self._execute(statement, parameters)).all()
            return rows
        # A single SELECT needs no transaction of its own: it reads one consistent snapshot.
        driver_connection = await self._connections.driver_connection()
        return await self._compiled(statement).fetch(driver_connection, parameters)

    async def add(self, order: Order) -> None:
        await self._execute(
            _INSERT_ORDER,
            {"id": order.id, "owner": order.owner, "status": order.status.value, "created": order.created},
        )
        await self._insert_items(order.id, order.items)

    async def get(self, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        parameters = {"order_id": order_id, "owner": owner}
        # Lock in one statement, read in the next. A READ COMMITTED statement that waits for a row lock
        # re-reads only the locked row once it gets it; rows it joins (the items) stay as of its
        # snapshot, taken before the writer it waited for committed, so a joined SELECT ... FOR UPDATE
        # could return the previous items. The next statement's snapshot sees them.
        locking = for_update and self._lock_rows
        if locking and (await self._execute(_LOCK_ORDER, parameters)).first() is None:
            return None
        orders = _orders_from_rows(owner, await self._rows(_GET_ORDER, parameters))
        return orders[0] if orders else None

    async def list(
        self,
        owner: str,
        *,
        cancelled: bool | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Order]:
        """Newest first, ties broken by id; `before` continues after the last order of a previous page."""
        parameters: dict[str, Any] = {"owner": owner, "limit": limit}
        if before is not None:
            parameters["before_created"], parameters["before_id"] = before
        rows = await self._rows(_list_statement(cancelled, before is not None), parameters)
        return _orders_from_rows(owner, rows)

    async def save(self, order: Order, *, items_changed: bool) -> None:
        await self._execute(
            _UPDATE_STATUS,
            {"order_id": order.id, "order_owner": order.owner, "new_status": order.status.value},
        )
        if items_changed:
            await self._execute(_DELETE_ITEMS, {"order_id": order.id})
            await self._insert_items(order.id, order.items)

    async def remove(self, order: Order) -> None:
        # Items go with the order through ON DELETE CASCADE.
        await self._execute(_DELETE_ORDER, {"order_id": order.id, "owner": order.owner})

    async def _insert_items(self, order_id: uuid.UUID, items: Sequence[OrderItem]) -> None:
        await self._execute(
            _INSERT_ITEMS,
            [
                {
                    "order_id": order_id,
                    "position": position,
                    "product": item.product,
                    "size": item.size.value,
                    "quantity": item.quantity,
                }
                for position, item in enumerate(items)
            ],
        )


def _orders_from_rows(owner: str, rows: Sequence[Sequence[Any]]) -> list[Order]:
    """Orders from (id, status, created, product, size, quantity) rows, grouped by consecutive id."""
    orders: list[Order] = []
    current: Order | None = None
    for order_id, status, created, product, size, quantity in rows:
        if current is None or current.id != order_id:
            current = Order(id=order_id, owner=owner, status=_STATUSES[status], created=created, items=[])
            orders.append(current)
        current.items.append(OrderItem(product=product, size=_SIZES[size], quantity=quantity))
    return orders


# Stored values to members by dictionary: calling the Enum class is a slow path, paid per row.
_STATUSES = {status.value: status for status in Status}
_SIZES = {size.value: size for size in Size}
