"""The status state machine, every action from every status.

created --pay--> paid; cancel from created, paid or progress; update and pay only while created.
Everything else answers 409 with a reason and changes nothing (the reference let cancelled orders
be paid and delivered ones be cancelled).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import UserClient
from tests.factories import item, order_body

STATUSES = ["created", "paid", "progress", "cancelled", "dispatched", "delivered"]

ALLOWED = {
    ("pay", "created"): "paid",
    ("cancel", "created"): "cancelled",
    ("cancel", "paid"): "cancelled",
    ("cancel", "progress"): "cancelled",
    ("update", "created"): "created",
}

CASES = [(action, status) for action in ("pay", "cancel", "update") for status in STATUSES]


async def _perform(user: UserClient, action: str, order_id: str) -> Any:
    if action == "update":
        return await user.put(f"/orders/{order_id}", json=order_body(item("espresso", "big", 9)))
    return await user.post(f"/orders/{order_id}/{action}")


@pytest.mark.parametrize(("action", "status"), [case for case in CASES if case in ALLOWED])
async def test_allowed_transition(user: UserClient, force_status: Any, action: str, status: str) -> None:
    order = await user.create()
    await force_status(order["id"], status)

    response = await _perform(user, action, order["id"])

    assert response.status_code == 200, response.text
    assert response.json()["status"] == ALLOWED[(action, status)]
    assert (await user.get(f"/orders/{order['id']}")).json() == response.json()


@pytest.mark.parametrize(("action", "status"), [case for case in CASES if case not in ALLOWED])
async def test_forbidden_transition_is_409_and_changes_nothing(
    user: UserClient, force_status: Any, action: str, status: str
) -> None:
    order = await user.create()
    await force_status(order["id"], status)
    before = (await user.get(f"/orders/{order['id']}")).json()

    response = await _perform(user, action, order["id"])

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert f"'{status}'" in detail, "the reason names the current status"
    assert (await user.get(f"/orders/{order['id']}")).json() == before


async def test_pay_then_cancel_walks_the_happy_path(user: UserClient) -> None:
    order = await user.create()
    paid = await user.post(f"/orders/{order['id']}/pay")
    assert paid.json()["status"] == "paid"
    cancelled = await user.post(f"/orders/{order['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert (await user.post(f"/orders/{order['id']}/pay")).status_code == 409
