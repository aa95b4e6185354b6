"""Orders belong to the token's `sub`: another user's order is indistinguishable from a missing one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import UserClient
from tests.factories import item, order_body


def not_found_body(order_id: str) -> dict[str, Any]:
    return {"detail": f"Order with ID {order_id} not found"}


@pytest.fixture
async def alice_order(as_user: Any) -> tuple[UserClient, dict[str, Any]]:
    alice: UserClient = as_user()
    order = await alice.create(order_body(item("flat white", "big", 2)))
    return alice, order


ATTEMPTS = [
    ("GET", "", None),
    ("PUT", "", order_body(item("espresso", "small", 9))),
    ("POST", "/pay", None),
    ("POST", "/cancel", None),
    ("DELETE", "", None),
]


@pytest.mark.parametrize(
    ("method", "suffix", "body"), ATTEMPTS, ids=["get", "update", "pay", "cancel", "delete"]
)
async def test_another_users_order_answers_404_like_a_missing_one(
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
    alice_order: tuple[UserClient, dict[str, Any]],
    as_user: Any,
) -> None:
    alice, order = alice_order
    bob: UserClient = as_user()
    missing_id = str(uuid.uuid4())

    theirs = await bob.request(method, f"/orders/{order['id']}{suffix}", json=body)
    missing = await bob.request(method, f"/orders/{missing_id}{suffix}", json=body)

    assert theirs.status_code == 404, theirs.text
    assert missing.status_code == 404, missing.text
    # Same status, same shape, same words: only the id the caller sent differs.
    assert theirs.json() == not_found_body(order["id"])
    assert missing.json() == not_found_body(missing_id)
    assert set(theirs.headers) - {"date"} == set(missing.headers) - {"date"}

    # Alice's order is exactly as she left it.
    after = await alice.get(f"/orders/{order['id']}")
    assert after.status_code == 200
    assert after.json() == order


async def test_lists_hold_only_the_callers_orders(as_user: Any) -> None:
    alice: UserClient = as_user()
    bob: UserClient = as_user()
    alice_ids = {(await alice.create())["id"] for _ in range(3)}
    bob_ids = {(await bob.create())["id"] for _ in range(2)}
    await alice.post(f"/orders/{next(iter(alice_ids))}/cancel")

    for query in ("", "?cancelled=true", "?cancelled=false"):
        alice_list = await alice.get(f"/orders{query}")
        bob_list = await bob.get(f"/orders{query}")
        assert alice_list.status_code == bob_list.status_code == 200
        assert {order["id"] for order in alice_list.json()["orders"]} <= alice_ids
        assert {order["id"] for order in bob_list.json()["orders"]} <= bob_ids

    assert {order["id"] for order in (await alice.get("/orders")).json()["orders"]} == alice_ids
    assert {order["id"] for order in (await bob.get("/orders")).json()["orders"]} == bob_ids


async def test_a_new_user_sees_an_empty_list(as_user: Any) -> None:
    await as_user().create()
    response = await as_user().get("/orders")
    assert response.status_code == 200
    assert response.json()["orders"] == []


async def test_the_owner_can_do_what_others_cannot(alice_order: tuple[UserClient, dict[str, Any]]) -> None:
    # The control for the 404s above: the same calls succeed for the owner.
    alice, order = alice_order
    path = f"/orders/{order['id']}"
    assert (await alice.get(path)).status_code == 200
    assert (await alice.put(path, json=order_body(item("mocha")))).status_code == 200
    assert (await alice.post(f"{path}/pay")).status_code == 200
    assert (await alice.post(f"{path}/cancel")).status_code == 200
    assert (await alice.delete(path)).status_code == 204
    assert (await alice.get(path)).status_code == 404


async def test_the_subject_is_matched_exactly(as_user: Any) -> None:
    # No case folding or trimming: "Alice" is not "alice".
    name = f"carol-{uuid.uuid4().hex[:8]}"
    carol: UserClient = as_user(name)
    order = await carol.create()
    for other in (name.upper(), f"{name} ", f" {name}"):
        response = await as_user(other).get(f"/orders/{order['id']}")
        assert response.status_code == 404, other
