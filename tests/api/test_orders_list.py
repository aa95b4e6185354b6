"""Listing orders: newest first, deterministic ties, the cancelled filter, bounded pages and paging."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest

from tests.conftest import UserClient
from tests.factories import item, order_body

NEXT_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def _next_url(response: Any) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = NEXT_LINK.match(link)
    assert match, f"unexpected Link header {link!r}"
    return match["url"]


async def _ids(user: UserClient, url: str = "/orders") -> list[str]:
    response = await user.get(url)
    assert response.status_code == 200, response.text
    return [order["id"] for order in response.json()["orders"]]


async def test_a_new_user_has_an_empty_list(user: UserClient) -> None:
    response = await user.get("/orders")
    assert response.status_code == 200
    assert response.json() == {"orders": []}
    assert "link" not in response.headers


async def test_orders_are_listed_newest_first(user: UserClient) -> None:
    created = [await user.create(order_body(item(f"p{n}"))) for n in range(5)]
    assert await _ids(user) == [order["id"] for order in reversed(created)]


async def test_ties_on_created_are_broken_by_id_descending(user: UserClient, force_created: Any) -> None:
    orders = [await user.create() for _ in range(4)]
    for order in orders:
        await force_created(order["id"], "2026-01-01T12:00:00+00:00")
    expected = sorted((order["id"] for order in orders), reverse=True)
    assert await _ids(user) == expected
    # Paging through the tie one by one gives the same order, with nothing lost or repeated.
    paged: list[str] = []
    url: str | None = "/orders?limit=1"
    while url:
        response = await user.get(url)
        paged += [order["id"] for order in response.json()["orders"]]
        url = _next_url(response)
    assert paged == expected


async def test_cancelled_filter(user: UserClient) -> None:
    open_order = await user.create()
    cancelled = await user.create()
    await user.post(f"/orders/{cancelled['id']}/cancel")

    assert await _ids(user, "/orders?cancelled=true") == [cancelled["id"]]
    assert await _ids(user, "/orders?cancelled=false") == [open_order["id"]]
    assert await _ids(user, "/orders") == [cancelled["id"], open_order["id"]]


async def test_limit_caps_the_page_and_a_next_link_follows(user: UserClient) -> None:
    created = [await user.create() for _ in range(5)]
    newest_first = [order["id"] for order in reversed(created)]

    response = await user.get("/orders?limit=2")
    assert [order["id"] for order in response.json()["orders"]] == newest_first[:2]
    assert _next_url(response) is not None


async def test_following_next_links_visits_every_order_once(user: UserClient) -> None:
    created = [await user.create() for _ in range(7)]
    seen: list[str] = []
    url: str | None = "/orders?limit=3"
    pages = 0
    while url:
        response = await user.get(url)
        assert response.status_code == 200
        seen += [order["id"] for order in response.json()["orders"]]
        url = _next_url(response)
        pages += 1
    assert pages == 3
    assert seen == [order["id"] for order in reversed(created)]


async def test_paging_keeps_the_cancelled_filter(user: UserClient) -> None:
    cancelled = []
    for _ in range(3):
        order = await user.create()
        await user.post(f"/orders/{order['id']}/cancel")
        cancelled.append(order["id"])
        await user.create()
    first = await user.get("/orders?cancelled=true&limit=2")
    url = _next_url(first)
    assert url is not None
    assert "cancelled=true" in url
    second = await user.get(url)
    ids = [o["id"] for o in first.json()["orders"] + second.json()["orders"]]
    assert ids == list(reversed(cancelled))
    assert _next_url(second) is None


async def test_the_default_page_holds_fifty_orders(user: UserClient) -> None:
    for _ in range(51):
        await user.create()
    response = await user.get("/orders")
    assert len(response.json()["orders"]) == 50
    assert _next_url(response) is not None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "limit=abc", "cancelled=maybe"])
async def test_out_of_range_or_malformed_query_is_422(user: UserClient, query: str) -> None:
    response = await user.get(f"/orders?{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize("cursor", ["garbage", "bm90LWEtY3Vyc29y", "x" * 201])
async def test_a_cursor_we_did_not_issue_is_422(user: UserClient, cursor: str) -> None:
    response = await user.get(f"/orders?cursor={cursor}")
    assert response.status_code == 422


async def test_the_maximum_page_size_is_accepted(user: UserClient) -> None:
    assert (await user.get("/orders?limit=100")).status_code == 200


def _forged_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(f"{position}|{uuid.uuid4()}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "position",
    # Well-formed timestamps whose instant in UTC lies outside what datetime can hold (OverflowError).
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
)
async def test_a_forged_cursor_beyond_the_range_of_time_is_422(user: UserClient, position: str) -> None:
    await user.create()
    response = await user.get(f"/orders?cursor={_forged_cursor(position)}")
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {"message": "cursor is not one this API issued", "key": "cursor", "source": "query"}
    ]


@pytest.mark.parametrize("position", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999+00:00"])
async def test_a_cursor_at_the_edge_of_time_is_a_valid_position(user: UserClient, position: str) -> None:
    order = await user.create()
    response = await user.get(f"/orders?cursor={_forged_cursor(position)}")
    assert response.status_code == 200, response.text
    expected = [order] if position.startswith("9999") else []
    assert response.json()["orders"] == expected
