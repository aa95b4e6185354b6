"""Placing orders: what the server sets, what it keeps, and that every order gets its own timestamp."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import UserClient
from tests.factories import item, order_body


async def test_a_new_order_is_created_with_server_set_fields(user: UserClient) -> None:
    before = datetime.now(UTC)
    response = await user.post("/orders", json=order_body(item("latte", "big", 2)))

    assert response.status_code == 201
    order = response.json()
    assert set(order) == {"id", "created", "status", "order"}
    assert uuid.UUID(order["id"])
    assert order["status"] == "created"
    assert order["order"] == [{"product": "latte", "size": "big", "quantity": 2}]
    created = datetime.fromisoformat(order["created"])
    assert created.tzinfo is not None, "created must carry its UTC offset"
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)


async def test_quantity_defaults_to_one(user: UserClient) -> None:
    order = await user.create(order_body(item(quantity=None)))
    assert order["order"][0]["quantity"] == 1


async def test_items_keep_the_order_the_client_sent(user: UserClient) -> None:
    items = [item(f"product-{n}", size, n + 1) for n, size in enumerate(["big", "small", "medium"] * 3)]
    order = await user.create({"order": items})
    assert order["order"] == items
    fetched = (await user.get(f"/orders/{order['id']}")).json()
    assert fetched["order"] == items


async def test_each_order_gets_its_own_timestamp(user: UserClient) -> None:
    # The reference evaluated the default once at import, so every order shared one timestamp.
    first = await user.create()
    second = await user.create()
    assert first["created"] != second["created"]
    assert datetime.fromisoformat(second["created"]) >= datetime.fromisoformat(first["created"])


async def test_a_created_order_reads_back_identically(user: UserClient) -> None:
    created = await user.create(order_body(item("flat white", "medium", 3), item("muffin", "small")))
    fetched = await user.get(f"/orders/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created
