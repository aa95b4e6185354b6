"""ETag, If-Match and If-None-Match on one order: edits that never overwrite each other unnoticed.

Every rule on SQLite and PostgreSQL (the `backend` fixture). Without the headers, behaviour is the
contract's as before (the rest of tests/api). How the version is kept while a previous release still
writes is in tests/integration/test_order_version_triggers.py and the rolling schema change test.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import UserClient
from tests.factories import item, order_body

UPDATED = order_body(item("latte", "big", 2))


def _if_match(tag: str) -> dict[str, Any]:
    return {"headers": {"If-Match": tag}}


def _if_none_match(tag: str) -> dict[str, Any]:
    return {"headers": {"If-None-Match": tag}}


async def _created(user: UserClient) -> tuple[str, str]:
    """A new order's id and the ETag its creation answered with."""
    created = await user.post("/orders", json=order_body())
    assert created.status_code == 201
    return created.json()["id"], created.headers["ETag"]


async def _current(user: UserClient, order_id: str) -> tuple[dict[str, Any], str]:
    read = await user.get(f"/orders/{order_id}")
    assert read.status_code == 200
    return read.json(), read.headers["ETag"]


def _is_strong(tag: str) -> bool:
    return tag.startswith('"') and tag.endswith('"') and len(tag) > 2


async def test_every_answer_with_one_order_carries_a_strong_etag_that_a_read_repeats(
    user: UserClient,
) -> None:
    order_id, created = await _created(user)
    _, read = await _current(user, order_id)
    updated = (await user.put(f"/orders/{order_id}", json=UPDATED)).headers["ETag"]
    _, read_after_update = await _current(user, order_id)
    paid = (await user.post(f"/orders/{order_id}/pay")).headers["ETag"]
    cancelled = (await user.post(f"/orders/{order_id}/cancel")).headers["ETag"]
    _, read_last = await _current(user, order_id)

    assert all(_is_strong(tag) for tag in (created, updated, paid, cancelled))
    assert read == created
    assert read_after_update == updated
    assert read_last == cancelled
    assert len({created, updated, paid, cancelled}) == 4


async def test_a_write_with_the_current_etag_proceeds(user: UserClient) -> None:
    order_id, tag = await _created(user)
    updated = await user.put(f"/orders/{order_id}", json=UPDATED, **_if_match(tag))
    paid = await user.post(f"/orders/{order_id}/pay", **_if_match(updated.headers["ETag"]))
    cancelled = await user.post(f"/orders/{order_id}/cancel", **_if_match(paid.headers["ETag"]))
    deleted = await user.delete(f"/orders/{order_id}", **_if_match(cancelled.headers["ETag"]))

    assert [updated.status_code, paid.status_code, cancelled.status_code] == [200, 200, 200]
    assert deleted.status_code == 204
    assert (await user.get(f"/orders/{order_id}")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "", UPDATED),
        ("DELETE", "", None),
        ("POST", "/pay", None),
        ("POST", "/cancel", None),
    ],
    ids=["update", "delete", "pay", "cancel"],
)
async def test_a_write_with_a_stale_etag_is_412_with_the_current_etag_and_changes_nothing(
    user: UserClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    order_id, stale = await _created(user)
    await user.put(f"/orders/{order_id}", json=order_body(item("mocha")))
    before, current = await _current(user, order_id)

    refused = await user.request(method, f"/orders/{order_id}{path}", json=body, **_if_match(stale))

    assert refused.status_code == 412
    assert "changed since" in refused.json()["detail"]
    assert refused.headers["ETag"] == current
    assert await _current(user, order_id) == (before, current)


async def test_two_editors_with_the_same_etag_one_wins_and_the_other_gets_412(user: UserClient) -> None:
    order_id, tag = await _created(user)
    first, second = await asyncio.gather(
        user.put(f"/orders/{order_id}", json=order_body(item("latte")), **_if_match(tag)),
        user.put(f"/orders/{order_id}", json=order_body(item("mocha")), **_if_match(tag)),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 412]
    winner = first if first.status_code == 200 else second
    assert await _current(user, order_id) == (winner.json(), winner.headers["ETag"])


async def test_a_stale_etag_is_412_before_the_status_rules_are_asked(user: UserClient) -> None:
    order_id, stale = await _created(user)
    await user.post(f"/orders/{order_id}/pay")

    assert (await user.post(f"/orders/{order_id}/pay", **_if_match(stale))).status_code == 412
    assert (await user.post(f"/orders/{order_id}/pay")).status_code == 409


async def test_a_star_matches_any_existing_order_but_not_a_missing_one(user: UserClient) -> None:
    order_id, _ = await _created(user)
    await user.put(f"/orders/{order_id}", json=UPDATED)

    assert (await user.post(f"/orders/{order_id}/pay", **_if_match("*"))).status_code == 200
    missing = "6f1c2b9e-3d4a-4b5c-8d7e-9f0a1b2c3d4e"
    assert (await user.put(f"/orders/{missing}", json=UPDATED, **_if_match("*"))).status_code == 404


async def test_a_list_of_tags_matches_when_one_is_current_and_a_weak_tag_never_does(user: UserClient) -> None:
    order_id, tag = await _created(user)
    weak = await user.post(f"/orders/{order_id}/pay", **_if_match(f"W/{tag}"))
    listed = await user.post(f"/orders/{order_id}/pay", **_if_match(f'"9999", "a,b", {tag}'))

    assert weak.status_code == 412
    assert listed.status_code == 200


@pytest.mark.parametrize("header", ["3", '"3" "4"', "", " , ", "W/3", '"unterminated', '*, "3"'])
async def test_a_malformed_if_match_is_400_and_changes_nothing(user: UserClient, header: str) -> None:
    order_id, _ = await _created(user)
    before = await _current(user, order_id)

    refused = await user.post(f"/orders/{order_id}/pay", **_if_match(header))

    assert refused.status_code == 400
    assert "If-Match must be" in refused.json()["detail"]
    assert await _current(user, order_id) == before


async def test_a_read_with_the_current_etag_in_if_none_match_is_304_without_a_body(user: UserClient) -> None:
    order_id, tag = await _created(user)

    for header in (tag, f"W/{tag}", f'"77", {tag}', "*"):
        unchanged = await user.get(f"/orders/{order_id}", **_if_none_match(header))
        assert unchanged.status_code == 304, header
        assert unchanged.content == b""
        assert unchanged.headers["ETag"] == tag

    await user.post(f"/orders/{order_id}/pay")
    changed = await user.get(f"/orders/{order_id}", **_if_none_match(tag))
    assert changed.status_code == 200
    assert changed.json()["status"] == "paid"


async def test_a_malformed_if_none_match_is_400(user: UserClient) -> None:
    order_id, _ = await _created(user)
    refused = await user.get(f"/orders/{order_id}", **_if_none_match("3"))

    assert refused.status_code == 400
    assert "If-None-Match must be" in refused.json()["detail"]


async def test_another_users_order_is_404_whatever_the_conditions(user: UserClient, as_user: Any) -> None:
    order_id, tag = await _created(user)
    stranger: UserClient = as_user()

    for header in (tag, "*"):
        assert (await stranger.get(f"/orders/{order_id}", **_if_none_match(header))).status_code == 404
        assert (
            await stranger.put(f"/orders/{order_id}", json=UPDATED, **_if_match(header))
        ).status_code == 404
        assert (await stranger.delete(f"/orders/{order_id}", **_if_match(header))).status_code == 404
        for action in ("pay", "cancel"):
            assert (
                await stranger.post(f"/orders/{order_id}/{action}", **_if_match(header))
            ).status_code == 404
    assert await _current(user, order_id) == ((await user.get(f"/orders/{order_id}")).json(), tag)


async def test_a_keyed_write_refused_by_if_match_binds_no_key_and_a_replay_keeps_its_first_etag(
    user: UserClient,
) -> None:
    order_id, stale = await _created(user)
    await user.put(f"/orders/{order_id}", json=UPDATED)
    _, current = await _current(user, order_id)
    key = {"Idempotency-Key": f"pay-{order_id}"}

    refused = await user.post(f"/orders/{order_id}/pay", headers={**key, "If-Match": stale})
    paid = await user.post(f"/orders/{order_id}/pay", headers={**key, "If-Match": current})
    await user.post(f"/orders/{order_id}/cancel")
    replayed = await user.post(f"/orders/{order_id}/pay", headers={**key, "If-Match": current})

    assert refused.status_code == 412
    assert paid.status_code == 200
    assert replayed.status_code == 200
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.headers["ETag"] == paid.headers["ETag"] != current
    assert replayed.content == paid.content
