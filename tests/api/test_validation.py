"""Request validation: 422 with a `detail` list for every malformed body, never a 500; bounded sizes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import UserClient
from tests.factories import item

INVALID_BODIES: dict[str, Any] = {
    "empty object": {},
    "no items": {"order": []},
    "order not a list": {"order": "latte"},
    "item not an object": {"order": ["latte"]},
    "missing product": {"order": [{"size": "small"}]},
    "missing size": {"order": [{"product": "latte"}]},
    "unknown size": {"order": [item(size="huge")]},
    "empty product": {"order": [item(product="")]},
    "product too long": {"order": [item(product="x" * 201)]},
    "product not a string": {"order": [{"product": 7, "size": "small"}]},
    "quantity zero": {"order": [item(quantity=0)]},
    "quantity negative": {"order": [item(quantity=-3)]},
    "quantity too large": {"order": [item(quantity=1_000_001)]},
    "quantity null": {"order": [{"product": "latte", "size": "small", "quantity": None}]},
    "quantity float": {"order": [{"product": "latte", "size": "small", "quantity": 1.5}]},
    "quantity string": {"order": [{"product": "latte", "size": "small", "quantity": "1"}]},
    "quantity huge integer": {"order": [{"product": "latte", "size": "small", "quantity": 10**40}]},
    "too many items": {"order": [item() for _ in range(101)]},
    "unknown field on order": {"order": [item()], "note": "extra"},
    "unknown field on item": {"order": [{**item(), "milk": "oat"}]},
    "body is a list": [item()],
    "body is null": None,
    # The pattern alone would let a final newline through (Python's `$`); NUL cannot be stored at all.
    "product ending in a newline": {"order": [item(), item(product="latte\n")]},
    "product with NUL": {"order": [item(product="lat\x00te")]},
    "product with DEL": {"order": [item(product="latte\x7f")]},
}


@pytest.mark.parametrize("name", INVALID_BODIES)
async def test_invalid_create_bodies_are_422_with_a_detail_list(user: UserClient, name: str) -> None:
    response = await user.post("/orders", json=INVALID_BODIES[name])
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    assert all("message" in entry for entry in detail)


async def test_a_control_character_is_reported_at_its_item(user: UserClient) -> None:
    response = await user.post("/orders", json={"order": [item(), item(product="latte\n")]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["message"] == "order[1].product must not contain control characters"


async def test_invalid_bodies_create_nothing(user: UserClient) -> None:
    for body in INVALID_BODIES.values():
        await user.post("/orders", json=body)
    assert (await user.get("/orders")).json() == {"orders": []}


@pytest.mark.parametrize("raw", [b"{bad json", b'{"order": [', b"\xff\xfe", b""])
async def test_malformed_or_missing_json_is_422_with_detail(user: UserClient, raw: bytes) -> None:
    response = await user.post("/orders", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_the_largest_valid_order_is_accepted(user: UserClient) -> None:
    body = {"order": [item(product="p" * 200, quantity=1_000_000) for _ in range(100)]}
    response = await user.post("/orders", json=body)
    assert response.status_code == 201
    assert len(response.json()["order"]) == 100


async def test_a_body_over_the_size_limit_is_413_with_detail(user: UserClient) -> None:
    oversized = b'{"order": [{"product": "' + b"x" * 300_000 + b'", "size": "small"}]}'
    response = await user.post("/orders", content=oversized, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"]


async def test_unicode_products_round_trip(user: UserClient) -> None:
    order = await user.create({"order": [item(product="café con leche ☕ — 大")]})
    assert order["order"][0]["product"] == "café con leche ☕ — 大"


INVALID_UTF8_BODY = b'{"order": [{"product": "lat\xffte", "size": "small", "quantity": 1}]}'


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_invalid_utf8_inside_a_json_string_is_422_with_detail(user: UserClient, method: str) -> None:
    # msgspec reports this as a UnicodeDecodeError, not a DecodeError: it must still be a 422 with `detail`.
    url = f"/orders/{(await user.create())['id']}" if method == "PUT" else "/orders"
    response = await user.request(
        method, url, content=INVALID_UTF8_BODY, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["source"] == "body"
    assert "UTF-8" in detail[0]["message"]
