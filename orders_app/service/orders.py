"""Order use cases. Every operation is scoped to the owner taken from the caller's identity."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from orders_app.domain.errors import OrderNotFound
from orders_app.domain.orders import ExpectedVersion, Order, OrderItem, Status
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


def paying(owner: str, order_id: uuid.UUID, expected: ExpectedVersion | None = None) -> OrderWrite:
    return _changing(owner, order_id, Order.pay, expected, items_changed=False)


def cancelling(owner: str, order_id: uuid.UUID, expected: ExpectedVersion | None = None) -> OrderWrite:
    return _changing(owner, order_id, Order.cancel, expected, items_changed=False)


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


async def update_order(
    uow: UnitOfWork,
    owner: str,
    order_id: uuid.UUID,
    items: list[OrderItem],
    expected: ExpectedVersion | None = None,
) -> Order:
    def replace(order: Order) -> None:
        order.replace_items(items)

    return await write_order(uow, _changing(owner, order_id, replace, expected, items_changed=True))


async def delete_order(
    uow: UnitOfWork, owner: str, order_id: uuid.UUID, expected: ExpectedVersion | None = None
) -> None:
    async with uow:
        await uow.begin_write()
        order = await _existing(uow, owner, order_id, for_update=True)
        if expected is not None:
            expected.require(order)
        await uow.orders.remove(order)
        await uow.commit()


def _changing(
    owner: str,
    order_id: uuid.UUID,
    action: Callable[[Order], None],
    expected: ExpectedVersion | None,
    *,
    items_changed: bool,
) -> OrderWrite:
    """Load under the write lock, check the expected version, apply a domain action (which may refuse), save.

    The version is checked first (RFC 9110, 13.2.2): a stale If-Match answers 412 whatever the action.
    """

    async def write(uow: UnitOfWork) -> Written:
        order = await _existing(uow, owner, order_id, for_update=True)
        if expected is not None:
            expected.require(order)
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
