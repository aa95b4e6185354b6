"""Order use cases. Every operation is scoped to the owner taken from the caller's identity."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from orders_app.domain.errors import OrderNotFound
from orders_app.domain.orders import Order, OrderItem, Status
from orders_app.service.ports import NO_EVENTS, OrderEvents, UnitOfWork


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[Order]
    # Where the next page starts (the last order's sort key), or None on the last page.
    next_after: tuple[datetime, uuid.UUID] | None


@dataclass(frozen=True, slots=True)
class Written:
    """An order as a write left it, and its status before (None for a new order), told once committed."""

    order: Order
    before: Status | None

    def tell(self, events: OrderEvents) -> None:
        if self.before is None:
            events.placed()
        elif self.order.status != self.before:
            events.transitioned(self.before.value, self.order.status.value)


# One change of one order, run inside a writing unit of work that its caller commits.
OrderWrite = Callable[[UnitOfWork], Awaitable[Written]]


def placing(owner: str, items: list[OrderItem]) -> OrderWrite:
    # Built (and refused, if invalid) before any transaction: SQLite's write lock waits for no CPU of it.
    order = Order.place(owner, items)

    async def write(uow: UnitOfWork) -> Written:
        await uow.orders.add(order)
        return Written(order, None)

    return write


def paying(owner: str, order_id: uuid.UUID) -> OrderWrite:
    return _changing(owner, order_id, Order.pay, items_changed=False)


def cancelling(owner: str, order_id: uuid.UUID) -> OrderWrite:
    return _changing(owner, order_id, Order.cancel, items_changed=False)


async def write_order(uow: UnitOfWork, write: OrderWrite, events: OrderEvents = NO_EVENTS) -> Order:
    """Run one write in its own transaction: begin writing, write, commit, then tell the events."""
    async with uow:
        await uow.begin_write()
        written = await write(uow)
        await uow.commit()
    written.tell(events)
    return written.order


async def place_order(
    uow: UnitOfWork, owner: str, items: list[OrderItem], events: OrderEvents = NO_EVENTS
) -> Order:
    return await write_order(uow, placing(owner, items), events)


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
    write = _changing(owner, order_id, lambda order: order.replace_items(items), items_changed=True)
    return await write_order(uow, write)


async def pay_order(
    uow: UnitOfWork, owner: str, order_id: uuid.UUID, events: OrderEvents = NO_EVENTS
) -> Order:
    return await write_order(uow, paying(owner, order_id), events)


async def cancel_order(
    uow: UnitOfWork, owner: str, order_id: uuid.UUID, events: OrderEvents = NO_EVENTS
) -> Order:
    return await write_order(uow, cancelling(owner, order_id), events)


async def delete_order(uow: UnitOfWork, owner: str, order_id: uuid.UUID) -> None:
    async with uow:
        await uow.begin_write()
        order = await _existing(uow, owner, order_id, for_update=True)
        await uow.orders.remove(order)
        await uow.commit()


def _changing(
    owner: str, order_id: uuid.UUID, action: Callable[[Order], None], *, items_changed: bool
) -> OrderWrite:
    """Load under the write lock, apply a domain action (which may refuse), save."""

    async def write(uow: UnitOfWork) -> Written:
        order = await _existing(uow, owner, order_id, for_update=True)
        before = order.status
        action(order)
        await uow.orders.save(order, items_changed=items_changed)
        return Written(order, before)

    return write


async def _existing(uow: UnitOfWork, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order:
    order = await uow.orders.get(owner, order_id, for_update=for_update)
    if order is None:
        raise OrderNotFound(order_id)
    return order
