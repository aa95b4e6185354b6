"""Deleting orders: gone for good, items included."""

from __future__ import annotations

from tests.conftest import UserClient


async def test_delete_answers_204_without_body_and_the_order_is_gone(user: UserClient) -> None:
    order = await user.create()
    response = await user.delete(f"/orders/{order['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await user.get(f"/orders/{order['id']}")).status_code == 404
    assert (await user.delete(f"/orders/{order['id']}")).status_code == 404


async def test_deleted_orders_leave_the_list(user: UserClient) -> None:
    kept = await user.create()
    dropped = await user.create()
    await user.delete(f"/orders/{dropped['id']}")
    listed = (await user.get("/orders")).json()["orders"]
    assert [order["id"] for order in listed] == [kept["id"]]
