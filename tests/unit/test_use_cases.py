"""Every use case against an in-memory unit of work: no database, no HTTP.

FakeUnitOfWork implements the service's ports (orders_app.service.ports) the way the real one behaves:
work is staged on copies and becomes visible only on commit(); leaving the block without commit()
discards it; writes and locking reads are refused before begin_write().
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import pytest

from orders_app.domain.errors import InvalidOrder, OrderNotFound, TransitionNotAllowed
from orders_app.domain.orders import Order, OrderItem, Size, Status
from orders_app.service import orders as use_cases
from orders_app.service.ports import IdempotencyKeys, OrdersRepository, UnitOfWork

LATTE = OrderItem("latte", Size.SMALL, 1)
MOCHA = OrderItem("mocha", Size.BIG, 3)
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeOrders:
    def __init__(self, unit: FakeUnitOfWork) -> None:
        self._unit = unit
        self.locked: list[uuid.UUID] = []

    @property
    def _rows(self) -> dict[uuid.UUID, Order]:
        return self._unit.staged

    async def add(self, order: Order) -> None:
        self._unit.require_writing()
        self._rows[order.id] = copy.deepcopy(order)

    async def get(self, owner: str, order_id: uuid.UUID, *, for_update: bool = False) -> Order | None:
        if for_update:
            self._unit.require_writing()
            self.locked.append(order_id)
        order = self._rows.get(order_id)
        return copy.deepcopy(order) if order is not None and order.owner == owner else None

    async def list(
        self,
        owner: str,
        *,
        cancelled: bool | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Order]:
        chosen = [
            order
            for order in self._rows.values()
            if order.owner == owner
            and (cancelled is None or (order.status is Status.CANCELLED) == cancelled)
            and (before is None or (order.created, order.id) < before)
        ]
        chosen.sort(key=lambda order: (order.created, order.id), reverse=True)
        return copy.deepcopy(chosen[:limit])

    async def save(self, order: Order, *, items_changed: bool) -> None:
        self._unit.require_writing()
        assert order.id in self.locked, "saved without loading it for update first"
        stored = self._rows[order.id]
        stored.status = order.status
        if items_changed:
            stored.items = list(order.items)

    async def remove(self, order: Order) -> None:
        self._unit.require_writing()
        assert order.id in self.locked, "removed without loading it for update first"
        del self._rows[order.id]


class FakeUnitOfWork:
    def __init__(self, committed: dict[uuid.UUID, Order] | None = None) -> None:
        self.committed: dict[uuid.UUID, Order] = committed if committed is not None else {}
        self.staged: dict[uuid.UUID, Order] = {}
        self.commits = 0
        self.writing = False
        self._orders = FakeOrders(self)
        self._active = False

    @property
    def orders(self) -> OrdersRepository:
        assert self._active, "the repository is used outside `async with uow`"
        return self._orders

    @property
    def idempotency_keys(self) -> IdempotencyKeys:
        raise AssertionError("a write without an Idempotency-Key touches no key")

    @property
    def locked(self) -> list[uuid.UUID]:
        return self._orders.locked

    async def __aenter__(self) -> Self:
        self.staged = copy.deepcopy(self.committed)
        self._active = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Whatever was not committed is dropped: the rollback.
        self.staged = {}
        self._active = False
        self.writing = False

    async def begin_write(self) -> None:
        self.writing = True

    async def commit(self) -> None:
        assert self._active
        self.committed.clear()
        self.committed.update(copy.deepcopy(self.staged))
        self.commits += 1

    def require_writing(self) -> None:
        assert self.writing, "a write or a locking read before begin_write()"


# mypy checks here that the fake satisfies the port the use cases are typed against.
_PORT_CHECK: type[UnitOfWork] = FakeUnitOfWork


def _uow_with(*orders: Order) -> FakeUnitOfWork:
    return FakeUnitOfWork({order.id: copy.deepcopy(order) for order in orders})


def _placed(owner: str = "alice", *, minutes: int = 0, status: Status = Status.CREATED) -> Order:
    order = Order.place(owner, [LATTE], now=START + timedelta(minutes=minutes))
    order.status = status
    return order


async def test_placing_an_order_commits_it_in_status_created() -> None:
    uow = FakeUnitOfWork()
    order = await use_cases.place_order(uow, "alice", [LATTE, MOCHA])

    assert order.status is Status.CREATED
    assert order.owner == "alice"
    assert order.created.tzinfo is not None
    assert uow.commits == 1
    assert uow.committed == {order.id: order}


async def test_an_order_without_items_is_refused_and_nothing_is_committed() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidOrder):
        await use_cases.place_order(uow, "alice", [])
    assert (uow.commits, uow.committed) == (0, {})


async def test_getting_an_order_returns_it_without_committing() -> None:
    order = _placed()
    uow = _uow_with(order)
    assert await use_cases.get_order(uow, "alice", order.id) == order
    assert uow.commits == 0


@pytest.mark.parametrize("owner", ["alice", "bob"], ids=["missing", "someone else's"])
async def test_a_missing_or_foreign_order_is_not_found(owner: str) -> None:
    order = _placed("alice")
    missing = uuid.uuid4() if owner == "alice" else order.id
    uow = _uow_with(order)
    with pytest.raises(OrderNotFound, match=str(missing)):
        await use_cases.get_order(uow, owner, missing)


@pytest.mark.parametrize(
    "use_case",
    [
        lambda uow, order_id: use_cases.write_order(uow, use_cases.paying("alice", order_id)),
        lambda uow, order_id: use_cases.write_order(uow, use_cases.cancelling("alice", order_id)),
        lambda uow, order_id: use_cases.update_order(uow, "alice", order_id, [MOCHA]),
        lambda uow, order_id: use_cases.delete_order(uow, "alice", order_id),
    ],
    ids=["pay", "cancel", "update", "delete"],
)
async def test_changing_a_missing_order_is_not_found_and_commits_nothing(use_case: object) -> None:
    other = _placed("bob")
    uow = _uow_with(other)
    with pytest.raises(OrderNotFound):
        await use_case(uow, other.id)  # type: ignore[operator]
    assert uow.commits == 0
    assert uow.committed == {other.id: other}


async def test_listing_pages_newest_first_until_no_next_page() -> None:
    orders = [_placed(minutes=minute) for minute in range(5)]
    # Two orders at the same instant: the id breaks the tie, so paging neither skips nor repeats one.
    twin = _placed(minutes=2)
    uow = _uow_with(*orders, twin, _placed("bob", minutes=9))

    seen: list[Order] = []
    after = None
    pages = 0
    while True:
        page = await use_cases.list_orders(uow, "alice", cancelled=None, limit=2, after=after)
        pages += 1
        assert len(page.orders) <= 2
        seen.extend(page.orders)
        if page.next_after is None:
            break
        last = page.orders[-1]
        assert page.next_after == (last.created, last.id)
        after = page.next_after

    expected = sorted([*orders, twin], key=lambda order: (order.created, order.id), reverse=True)
    assert seen == expected
    assert pages == 3
    assert uow.commits == 0


async def test_a_page_that_holds_the_rest_has_no_next_page() -> None:
    uow = _uow_with(_placed(minutes=0), _placed(minutes=1))
    page = await use_cases.list_orders(uow, "alice", cancelled=None, limit=2)
    assert len(page.orders) == 2
    assert page.next_after is None


async def test_listing_filters_by_cancelled() -> None:
    open_order = _placed(minutes=0)
    cancelled = _placed(minutes=1, status=Status.CANCELLED)
    uow = _uow_with(open_order, cancelled)

    only_cancelled = await use_cases.list_orders(uow, "alice", cancelled=True, limit=10)
    not_cancelled = await use_cases.list_orders(uow, "alice", cancelled=False, limit=10)
    everything = await use_cases.list_orders(uow, "alice", cancelled=None, limit=10)

    assert only_cancelled.orders == [cancelled]
    assert not_cancelled.orders == [open_order]
    assert everything.orders == [cancelled, open_order]


async def test_paying_commits_the_new_status_under_a_lock() -> None:
    order = _placed()
    uow = _uow_with(order)
    paid = await use_cases.write_order(uow, use_cases.paying("alice", order.id))

    assert paid.status is Status.PAID
    assert uow.committed[order.id].status is Status.PAID
    assert uow.locked == [order.id]
    assert uow.commits == 1


@pytest.mark.parametrize("status", [Status.CREATED, Status.PAID, Status.PROGRESS])
async def test_cancelling_commits_from_every_cancellable_status(status: Status) -> None:
    order = _placed(status=status)
    uow = _uow_with(order)
    cancelled = await use_cases.write_order(uow, use_cases.cancelling("alice", order.id))
    assert cancelled.status is Status.CANCELLED
    assert uow.committed[order.id].status is Status.CANCELLED
    assert uow.commits == 1


async def test_updating_replaces_the_items_and_keeps_the_rest() -> None:
    order = _placed()
    uow = _uow_with(order)
    updated = await use_cases.update_order(uow, "alice", order.id, [MOCHA, LATTE])

    assert updated.items == [MOCHA, LATTE]
    stored = uow.committed[order.id]
    assert (stored.items, stored.status, stored.created) == ([MOCHA, LATTE], Status.CREATED, order.created)
    assert uow.commits == 1


async def test_updating_to_no_items_is_refused_and_keeps_the_order() -> None:
    order = _placed()
    uow = _uow_with(order)
    with pytest.raises(InvalidOrder):
        await use_cases.update_order(uow, "alice", order.id, [])
    assert uow.committed[order.id] == order
    assert uow.commits == 0


async def test_deleting_removes_the_order() -> None:
    order, kept = _placed(), _placed(minutes=1)
    uow = _uow_with(order, kept)
    await use_cases.delete_order(uow, "alice", order.id)
    assert uow.committed == {kept.id: kept}
    assert uow.locked == [order.id]
    assert uow.commits == 1


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.PAID, "pay"),
        (Status.CANCELLED, "pay"),
        (Status.PAID, "update"),
        (Status.DISPATCHED, "cancel"),
        (Status.DELIVERED, "cancel"),
        (Status.CANCELLED, "cancel"),
    ],
)
async def test_an_illegal_transition_leaves_the_order_unchanged_and_commits_nothing(
    status: Status, action: str
) -> None:
    order = _placed(status=status)
    uow = _uow_with(order)
    calls = {
        "pay": lambda: use_cases.write_order(uow, use_cases.paying("alice", order.id)),
        "cancel": lambda: use_cases.write_order(uow, use_cases.cancelling("alice", order.id)),
        "update": lambda: use_cases.update_order(uow, "alice", order.id, [MOCHA]),
    }
    with pytest.raises(TransitionNotAllowed) as refused:
        await calls[action]()

    assert refused.value.status == status.value
    assert uow.committed == {order.id: order}
    assert uow.commits == 0
