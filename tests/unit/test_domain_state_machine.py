"""The domain model on its own: no database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orders_app.domain.errors import InvalidOrder, TransitionNotAllowed
from orders_app.domain.orders import Order, OrderItem, Size, Status


def _order(status: Status = Status.CREATED) -> Order:
    order = Order.place("alice", [OrderItem("latte", Size.SMALL)])
    order.status = status
    return order


def test_a_placed_order_is_created_now_and_timezone_aware() -> None:
    order = Order.place("alice", [OrderItem("latte", Size.SMALL)])
    assert order.status is Status.CREATED
    assert order.created.tzinfo is not None
    assert abs((datetime.now(UTC) - order.created).total_seconds()) < 5


def test_an_order_needs_items() -> None:
    with pytest.raises(InvalidOrder):
        Order.place("alice", [])


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Order.place("alice", [OrderItem("latte", Size.SMALL)], now=datetime(2026, 1, 1))


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.CREATED])
def test_only_created_orders_can_be_paid(status: Status) -> None:
    order = _order(status)
    with pytest.raises(TransitionNotAllowed) as refused:
        order.pay()
    assert refused.value.status == status.value
    assert order.status is status


@pytest.mark.parametrize("status", [Status.DISPATCHED, Status.DELIVERED, Status.CANCELLED])
def test_late_orders_cannot_be_cancelled(status: Status) -> None:
    order = _order(status)
    with pytest.raises(TransitionNotAllowed):
        order.cancel()
    assert order.status is status


def test_refused_update_keeps_the_items() -> None:
    order = _order(Status.PAID)
    items = list(order.items)
    with pytest.raises(TransitionNotAllowed):
        order.replace_items([OrderItem("mocha", Size.BIG, 2)])
    assert order.items == items
