"""Order use cases. Every operation is scoped to the owner taken from the caller's identity."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from orders_app.domain.errors import OrderNotFound
from orders_app.domain.orders import Order, OrderItem
from orders_app.service.ports import NO_EVENTS, OrderEvents, UnitOfWork


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[Order]
    # Where the next page starts (the last order's sort key), or None on the last page.
    next_after: tuple[datetime, uuid.UUID] | None


async def place_order(
    uow: UnitOfWork, owner: str, items: list[OrderItem], events: OrderEvents = NO_EVENTS
) -> Order:
    order = Order.place(owner, items)
    async with uow:
        await uow.begin_write()
        await uow.orders.add(order)
        await uow.commit()
    events.placed()
    return order


async def get_order(uow: UnitOfWork, owner: str, order_id: uuid.UUID) -> Order:
    async with uow:
        return await _existing(uow, owner, order_id)


async def list_orders(
    uow: UnitOfWork,
    owner: str,
    *,
    cancelled: bool | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Page:
    async with uow:
        # One extra row tells whether another page follows, without a COUNT query.
        orders = await uow.orders.list(owner, cancelled=cancelled, limit=limit + 1, before=after)
    if len(orders) > limit:
        orders = orders[:limit]
        last = orders[-1]
        return Page(orders=orders, next_after=(last.created, last.id))
    return Page(orders=orders, next_after=None)


async def update_order(uow: UnitOfWork, owner: str, order_id: uuid.UUID, items: list[OrderItem]) -> Order:
    return await _change(uow, owner, order_id, lambda order: order.replace_items(items), True, NO_EVENTS)


async def pay_order(
    uow: UnitOfWork, owner: str, order_id: uuid.UUID, events: OrderEvents = NO_EVENTS
) -> Order:
    return await _change(uow, owner, order_id, Order.pay, False, events)


async def cancel_order(
    uow: UnitOfWork, owner: str, order_id: uuid.UUID, events: OrderEvents = NO_EVENTS
) -> Order:
    return await _change(uow, owner, order_id, Order.cancel, False, events)


async def delete_order(uow: UnitOfWork, owner: str, order_id: uuid.UUID) -> None:
    async with uow:
        await uow.begin_write()
        order = await _existing(uow, owner, order_id, for_update=True)
        await uow.orders.remove(order)
        await uow.commit()


async def _change(
    uow: UnitOfWork,
    owner: str,
    order_id: uuid.UUID,
    action: Callable[[Order], None],
    items_changed: bool,
    events: OrderEvents,
) -> Order:
    """Load under a write lock, apply a domain action (which may refuse), save, commit."""
    async with uow:
        await uow.begin_write()
        order = await _existing(uow, owner, order_id, for_update=True)
        before = order.status
        action(order)
        await uow.orders.save(order, items_changed=items_changed)
        await uow.commit()
    if order.status != before:
        events.transitioned(before.value, order.status.value)
    return order


async def _existing(uow: UnitOfWork, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order:
    order = await uow.orders.get(owner, order_id, for_update=for_update)
    if order is None:
        raise OrderNotFound(order_id)
    return order
