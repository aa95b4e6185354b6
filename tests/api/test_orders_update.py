"""Replacing an order's items: allowed only while the order is `created`."""

from __future__ import annotations

from tests.conftest import UserClient
from tests.factories import item, order_body


async def test_update_replaces_all_items_and_keeps_identity(user: UserClient) -> None:
    order = await user.create(order_body(item("latte"), item("scone")))
    response = await user.put(f"/orders/{order['id']}", json=order_body(item("mocha", "big", 4)))

    assert response.status_code == 200
    updated = response.json()
    assert updated["id"] == order["id"]
    assert updated["created"] == order["created"]
    assert updated["status"] == "created"
    assert updated["order"] == [{"product": "mocha", "size": "big", "quantity": 4}]
    assert (await user.get(f"/orders/{order['id']}")).json() == updated


async def test_update_validates_the_body_like_create(user: UserClient) -> None:
    order = await user.create()
    response = await user.put(f"/orders/{order['id']}", json={"order": []})
    assert response.status_code == 422
    assert (await user.get(f"/orders/{order['id']}")).json() == order
