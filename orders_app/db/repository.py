"""The orders repository: domain objects in, domain objects out; every query is scoped to an owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Executable, Integer, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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


@cache
def _list_statement(cancelled: bool | None, paged: bool) -> Executable:
    """Newest first, ties broken by id; `paged` continues after (before_created, before_id)."""
    statement = select(*_ORDER_COLUMNS).where(OrderRecord.owner == bindparam("owner"))
    if cancelled is True:
        statement = statement.where(OrderRecord.status == Status.CANCELLED.value)
    elif cancelled is False:
        statement = statement.where(OrderRecord.status != Status.CANCELLED.value)
    if paged:
        created = bindparam("before_created", type_=OrderRecord.created.type)
        statement = statement.where(
            or_(
                OrderRecord.created < created,
                and_(OrderRecord.created == created, OrderRecord.id < bindparam("before_id")),
            )
        )
    statement = statement.order_by(OrderRecord.created.desc(), OrderRecord.id.desc())
    return statement.limit(bindparam("limit", type_=Integer))


# One query for the items of a whole page, never one per order.
_PAGE_ITEMS = (
    select(*_ITEM_COLUMNS)
    .where(OrderItemRecord.order_id.in_(bindparam("order_ids", expanding=True)))
    .order_by(OrderItemRecord.order_id, OrderItemRecord.position)
)


class OrderRepository:
    def __init__(self, connection: AsyncConnection, *, lock_rows: bool) -> None:
        self._connection = connection
        # PostgreSQL locks the order's row for the rest of the transaction (SELECT … FOR UPDATE);
        # SQLite has no row locks and relies on the unit of work's BEGIN IMMEDIATE instead.
        self._lock_rows = lock_rows

    async def add(self, order: Order) -> None:
        await self._connection.execute(
            insert(orders_table).values(
                id=order.id, owner=order.owner, status=order.status.value, created=order.created
            )
        )
        await self._insert_items(order.id, order.items)

    async def get(self, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        parameters = {"order_id": order_id, "owner": owner}
        # Lock in one statement, read in the next. A READ COMMITTED statement that waits for a row lock
        # re-reads only the locked row once it gets it; rows it joins (the items) stay as of its
        # snapshot, taken before the writer it waited for committed, so a joined SELECT ... FOR UPDATE
        # could return the previous items. The next statement's snapshot sees them.
        locking = for_update and self._lock_rows
        if locking and (await self._connection.execute(_LOCK_ORDER, parameters)).first() is None:
            return None
        rows = (await self._connection.execute(_GET_ORDER, parameters)).all()
        if not rows:
            return None
        first = rows[0]
        return Order(
            id=first.id,
            owner=owner,
            status=Status(first.status),
            created=first.created,
            items=[_item(row) for row in rows],
        )

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
        statement = _list_statement(cancelled, before is not None)
        order_rows = (await self._connection.execute(statement, parameters)).all()
        if not order_rows:
            return []
        item_rows = (
            await self._connection.execute(_PAGE_ITEMS, {"order_ids": [row.id for row in order_rows]})
        ).all()
        items_by_order: dict[uuid.UUID, list[OrderItem]] = {row.id: [] for row in order_rows}
        for item_row in item_rows:
            items_by_order[item_row.order_id].append(_item(item_row))
        # Each statement sees its own snapshot: an order deleted between the two has no items left,
        # and is left out rather than listed with none (every order has at least one item).
        return [
            Order(
                id=row.id,
                owner=owner,
                status=Status(row.status),
                created=row.created,
                items=items_by_order[row.id],
            )
            for row in order_rows
            if items_by_order[row.id]
        ]

    async def save(self, order: Order, *, items_changed: bool) -> None:
        await self._connection.execute(
            update(orders_table)
            .where(orders_table.c.id == order.id, orders_table.c.owner == order.owner)
            .values(status=order.status.value)
        )
        if items_changed:
            await self._connection.execute(
                delete(order_items_table).where(order_items_table.c.order_id == order.id)
            )
            await self._insert_items(order.id, order.items)

    async def remove(self, order: Order) -> None:
        # Items go with the order through ON DELETE CASCADE.
        await self._connection.execute(
            delete(orders_table).where(orders_table.c.id == order.id, orders_table.c.owner == order.owner)
        )

    async def _insert_items(self, order_id: uuid.UUID, items: Sequence[OrderItem]) -> None:
        await self._connection.execute(
            insert(order_items_table),
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


def _item(row: Any) -> OrderItem:
    return OrderItem(product=row.product, size=Size(row.size), quantity=row.quantity)
