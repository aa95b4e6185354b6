"""The orders repository: domain objects in, domain objects out; every query is scoped to an owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orders_app.db.tables import OrderItemRecord, OrderRecord, order_items_table, orders_table
from orders_app.domain.orders import Order, OrderItem, Size, Status

_ORDER_COLUMNS = (OrderRecord.id, OrderRecord.status, OrderRecord.created)
_ITEM_COLUMNS = (
    OrderItemRecord.order_id,
    OrderItemRecord.product,
    OrderItemRecord.size,
    OrderItemRecord.quantity,
)


class OrderRepository:
    def __init__(self, session: AsyncSession, *, lock_rows: bool) -> None:
        self._session = session
        # PostgreSQL locks the order's row for the rest of the transaction (SELECT … FOR UPDATE);
        # SQLite has no row locks and relies on the unit of work's BEGIN IMMEDIATE instead.
        self._lock_rows = lock_rows

    async def add(self, order: Order) -> None:
        await self._session.execute(
            insert(orders_table).values(
                id=order.id, owner=order.owner, status=order.status.value, created=order.created
            )
        )
        await self._insert_items(order.id, order.items)

    async def get(self, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        statement = (
            select(*_ORDER_COLUMNS, *_ITEM_COLUMNS[1:])
            .join(OrderItemRecord, OrderItemRecord.order_id == OrderRecord.id)
            .where(OrderRecord.id == order_id, OrderRecord.owner == owner)
            .order_by(OrderItemRecord.position)
        )
        if for_update and self._lock_rows:
            statement = statement.with_for_update(of=OrderRecord)
        rows = (await self._session.execute(statement)).all()
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
        statement = select(*_ORDER_COLUMNS).where(OrderRecord.owner == owner)
        if cancelled is True:
            statement = statement.where(OrderRecord.status == Status.CANCELLED.value)
        elif cancelled is False:
            statement = statement.where(OrderRecord.status != Status.CANCELLED.value)
        if before is not None:
            created, order_id = before
            statement = statement.where(
                or_(
                    OrderRecord.created < created,
                    and_(OrderRecord.created == created, OrderRecord.id < order_id),
                )
            )
        statement = statement.order_by(OrderRecord.created.desc(), OrderRecord.id.desc()).limit(limit)
        order_rows = (await self._session.execute(statement)).all()
        if not order_rows:
            return []
        # One query for the items of the whole page, never one per order.
        item_rows = (
            await self._session.execute(
                select(*_ITEM_COLUMNS)
                .where(OrderItemRecord.order_id.in_([row.id for row in order_rows]))
                .order_by(OrderItemRecord.order_id, OrderItemRecord.position)
            )
        ).all()
        items_by_order: dict[uuid.UUID, list[OrderItem]] = {row.id: [] for row in order_rows}
        for item_row in item_rows:
            items_by_order[item_row.order_id].append(_item(item_row))
        return [
            Order(
                id=row.id,
                owner=owner,
                status=Status(row.status),
                created=row.created,
                items=items_by_order[row.id],
            )
            for row in order_rows
        ]

    async def save(self, order: Order, *, items_changed: bool) -> None:
        await self._session.execute(
            update(orders_table)
            .where(orders_table.c.id == order.id, orders_table.c.owner == order.owner)
            .values(status=order.status.value)
        )
        if items_changed:
            await self._session.execute(
                delete(order_items_table).where(order_items_table.c.order_id == order.id)
            )
            await self._insert_items(order.id, order.items)

    async def remove(self, order: Order) -> None:
        # Items go with the order through ON DELETE CASCADE.
        await self._session.execute(
            delete(orders_table).where(orders_table.c.id == order.id, orders_table.c.owner == order.owner)
        )

    async def _insert_items(self, order_id: uuid.UUID, items: Sequence[OrderItem]) -> None:
        await self._session.execute(
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
