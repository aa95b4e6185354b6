"""The orders repository on the unit of work's session: domain objects in, domain objects out.

Every query is scoped to an owner. Writes go through the ORM (OrderRecord and its items, flushed by
the unit of work's commit). Reads that only answer a request (get one, list a page) are Core SELECTs
executed through the same session and turned straight into domain objects: loading ORM records for
them, only to convert and drop them, costs more than the query (docs/bench.md, "Sessions, reads
and writes").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from orders_app.db.tables import OrderItemRecord, OrderRecord, order_items_table, orders_table
from orders_app.domain.orders import Order, OrderItem, Size, Status

_orders = orders_table.c
_items = order_items_table.c

# Statements are built once, with bound parameters, instead of on every call: building a SELECT and
# its cache key costs more CPU than SQLite needs to answer it (docs/bench.md). Table columns rather
# than mapped attributes keep the read statements plain Core, which the session passes straight to
# its connection.
_GET_ORDER = (
    select(
        _orders.id,
        _orders.status,
        _orders.created,
        _orders.version,
        _items.product,
        _items.size,
        _items.quantity,
    )
    .join(order_items_table, _items.order_id == _orders.id)
    .where(_orders.id == bindparam("order_id"), _orders.owner == bindparam("owner"))
    .order_by(_items.position)
)

# For a read-modify-write: the order's record and, in a second statement, its items. On PostgreSQL
# the first statement also locks the order's row (FOR UPDATE; SQLite renders none and relies on the
# unit of work's BEGIN IMMEDIATE). Lock first, then read the items: a READ COMMITTED statement that
# waits for a row lock re-reads only the locked row once it gets it, while rows it joins keep its
# older snapshot, so one joined SELECT … FOR UPDATE could return the previous writer's old items. The
# selectin statement that follows takes a new snapshot and sees them.
_LOAD_FOR_UPDATE = (
    select(OrderRecord)
    .where(OrderRecord.id == bindparam("order_id"), OrderRecord.owner == bindparam("owner"))
    .options(selectinload(OrderRecord.items))
    .with_for_update(of=OrderRecord)
)


# A new order is two Core INSERTs through the session (the items as one executemany): the same SQL
# the ORM's flush would send, without building and tracking records that are never read again.
_INSERT_ORDER = insert(orders_table)
_INSERT_ITEMS = insert(order_items_table)


@cache
def _list_statement(cancelled: bool | None, paged: bool) -> Select[Any]:
    """A page of orders with their items in one statement (one round trip, one snapshot).

    The page itself is chosen in a subquery: newest first, ties broken by id, `paged` continuing
    after (before_created, before_id). Its items are joined to it, in the same order.
    """
    page = select(_orders.id, _orders.status, _orders.created, _orders.version).where(
        _orders.owner == bindparam("owner")
    )
    if cancelled is True:
        page = page.where(_orders.status == Status.CANCELLED.value)
    elif cancelled is False:
        page = page.where(_orders.status != Status.CANCELLED.value)
    if paged:
        created = bindparam("before_created", type_=_orders.created.type)
        page = page.where(
            or_(
                _orders.created < created,
                and_(_orders.created == created, _orders.id < bindparam("before_id")),
            )
        )
    chosen = (
        page.order_by(_orders.created.desc(), _orders.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    return (
        select(
            chosen.c.id,
            chosen.c.status,
            chosen.c.created,
            chosen.c.version,
            _items.product,
            _items.size,
            _items.quantity,
        )
        .join(order_items_table, _items.order_id == chosen.c.id)
        .order_by(chosen.c.created.desc(), chosen.c.id.desc(), _items.position)
    )


class SqlOrderRepository:
    """Orders on one AsyncSession, which belongs to the unit of work that made this repository."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._writing = False
        # Records loaded for update in this unit of work, by order id: save() and remove() change these.
        self._records: dict[uuid.UUID, OrderRecord] = {}

    def allow_writes(self) -> None:
        """Called by the unit of work once its session holds a transaction that may write."""
        self._writing = True

    async def add(self, order: Order) -> None:
        self._require_writing()
        session = self._session
        row = {
            "id": order.id,
            "owner": order.owner,
            "status": order.status.value,
            "created": order.created,
            "version": order.version,
        }
        await session.execute(_INSERT_ORDER, row)
        await session.execute(_INSERT_ITEMS, _item_rows(order.id, order.items))

    async def get(self, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        parameters = {"order_id": order_id, "owner": owner}
        if for_update:
            self._require_writing()
            record = (await self._session.scalars(_LOAD_FOR_UPDATE, parameters)).one_or_none()
            if record is None:
                return None
            self._records[record.id] = record
            return _order_from_record(record)
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
        record = self._loaded(order)
        record.status = order.status.value
        # Always in the UPDATE, items-only changes included: the order's row is what its version names.
        record.version = order.version
        if items_changed:
            # Items at the same position become UPDATEs, the rest INSERTs or DELETEs (one flush).
            record.items = _item_records(order.id, order.items)

    async def remove(self, order: Order) -> None:
        await self._session.delete(self._loaded(order))

    async def _rows(self, statement: Select[Any], parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        rows: Sequence[Sequence[Any]] = (await self._session.execute(statement, parameters)).all()
        return rows

    def _loaded(self, order: Order) -> OrderRecord:
        self._require_writing()
        record = self._records.get(order.id)
        if record is None:
            raise RuntimeError(f"order {order.id} was not loaded for update in this unit of work")
        return record

    def _require_writing(self) -> None:
        if not self._writing:
            raise RuntimeError("call the unit of work's begin_write() before changing or locking orders")


def _item_rows(order_id: uuid.UUID, items: Sequence[OrderItem]) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "position": position,
            "product": item.product,
            "size": item.size.value,
            "quantity": item.quantity,
        }
        for position, item in enumerate(items)
    ]


def _item_records(order_id: uuid.UUID, items: Sequence[OrderItem]) -> list[OrderItemRecord]:
    return [OrderItemRecord(**row) for row in _item_rows(order_id, items)]


def _order_from_record(record: OrderRecord) -> Order:
    return Order(
        id=record.id,
        owner=record.owner,
        status=_STATUSES[record.status],
        created=record.created,
        items=[OrderItem(product=i.product, size=_SIZES[i.size], quantity=i.quantity) for i in record.items],
        version=record.version,
    )


def _orders_from_rows(owner: str, rows: Sequence[Sequence[Any]]) -> list[Order]:
    """Orders from (id, status, created, version, product, size, quantity) rows, grouped by consecutive id."""
    orders: list[Order] = []
    current: Order | None = None
    for order_id, status, created, version, product, size, quantity in rows:
        if current is None or current.id != order_id:
            current = Order(
                id=order_id, owner=owner, status=_STATUSES[status], created=created, items=[], version=version
            )
            orders.append(current)
        current.items.append(OrderItem(product=product, size=_SIZES[size], quantity=quantity))
    return orders


# Stored values to members by dictionary: calling the Enum class is a slow path, paid per row.
_STATUSES = {status.value: status for status in Status}
_SIZES = {size.value: size for size in Size}
