"""Idempotency-Key on POST /orders, pay and cancel: a repeat gets the first response, nothing runs twice.

Every rule on SQLite and PostgreSQL (the `backend` fixture); what the database holds is read directly,
not through the API under test. Concurrent duplicates, a restart and two key headers (which
the in-process client would join into one) are in the live tier (tests/live/test_idempotency_keys_live.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orders_app.app import create_app, serving_stack
from orders_app.auth.keys import KeyPair
from orders_app.db.tables import idempotency_keys_table
from orders_app.db.url import async_url
from tests.conftest import Backend, TokenMinter, UserClient, app_settings, run_migrations
from tests.factories import item, new_user, order_body
from tests.live_server import stored_order_ids


def _key() -> str:
    return f"key-{uuid.uuid4()}"


def _with_key(key: str | bytes) -> dict[str, Any]:
    return {"headers": {"Idempotency-Key": key}}


async def _stored_keys(backend: Backend, subject: str) -> list[str]:
    engine = create_async_engine(async_url(backend.url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            keys = idempotency_keys_table.c
            rows = await connection.execute(select(keys.key).where(keys.subject == subject))
            return sorted(row.key for row in rows)
    finally:
        await engine.dispose()


async def test_a_repeated_create_gets_the_first_response_and_places_one_order(
    user: UserClient, backend: Backend
) -> None:
    key = _key()
    first = await user.post("/orders", json=order_body(), **_with_key(key))
    again = await user.post("/orders", json=order_body(), **_with_key(key))

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    assert await stored_order_ids(backend.url, [user.subject]) == [first.json()["id"]]


@pytest.mark.parametrize(
    ("first_form", "repeat_form"),
    [
        ('"order-7"', "order-7"),
        ("order-7", '"order-7"'),
        ('"a \\"quoted\\" \\\\ key"', 'a "quoted" \\ key'),
        ("  order-7\t", '"order-7"'),
    ],
)
async def test_the_quoted_and_the_bare_form_are_the_same_key(
    user: UserClient, backend: Backend, first_form: str, repeat_form: str
) -> None:
    first = await user.post("/orders", json=order_body(), **_with_key(first_form))
    again = await user.post("/orders", json=order_body(), **_with_key(repeat_form))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(await stored_order_ids(backend.url, [user.subject])) == 1


@pytest.mark.parametrize(("action", "status"), [("pay", "paid"), ("cancel", "cancelled")])
async def test_a_repeated_transition_with_its_key_answers_200_again(
    user: UserClient, action: str, status: str
) -> None:
    order = await user.create()
    key = _key()
    first = await user.post(f"/orders/{order['id']}/{action}", **_with_key(key))
    again = await user.post(f"/orders/{order['id']}/{action}", **_with_key(key))
    plain_repeat = await user.post(f"/orders/{order['id']}/{action}")

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == status
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    # Without the key the repeat runs, and the state machine refuses it.
    assert plain_repeat.status_code == 409


async def test_a_replay_is_the_response_as_first_sent_even_after_the_order_changed(user: UserClient) -> None:
    key = _key()
    first = await user.post("/orders", json=order_body(), **_with_key(key))
    await user.post(f"/orders/{first.json()['id']}/cancel")

    again = await user.post("/orders", json=order_body(), **_with_key(key))

    assert again.json() == first.json()
    assert again.json()["status"] == "created"


@pytest.mark.parametrize(
    "different",
    [
        pytest.param({"url": "/orders", "json": order_body(item("mocha"))}, id="another-body"),
        pytest.param(
            {"url": "/orders", "content": b'{"order":[{"product":"cappuccino","size":"small"}]}'},
            id="the-same-order-in-other-bytes",
        ),
    ],
)
async def test_the_same_key_on_a_different_create_is_422_and_places_nothing(
    user: UserClient, backend: Backend, different: dict[str, Any]
) -> None:
    key = _key()
    first = await user.post("/orders", json=order_body(), **_with_key(key))
    reused = await user.post(**different, **_with_key(key))

    assert reused.status_code == 422
    assert "different request" in reused.json()["detail"]
    assert await stored_order_ids(backend.url, [user.subject]) == [first.json()["id"]]


async def test_the_same_key_on_another_path_is_422_and_changes_nothing(user: UserClient) -> None:
    order = await user.create()
    other = await user.create()
    key = _key()
    paid = await user.post(f"/orders/{order['id']}/pay", **_with_key(key))

    on_cancel = await user.post(f"/orders/{order['id']}/cancel", **_with_key(key))
    on_other_order = await user.post(f"/orders/{other['id']}/pay", **_with_key(key))

    assert paid.status_code == 200
    assert (on_cancel.status_code, on_other_order.status_code) == (422, 422)
    assert (await user.get(f"/orders/{order['id']}")).json()["status"] == "paid"
    assert (await user.get(f"/orders/{other['id']}")).json()["status"] == "created"


async def test_two_users_may_use_the_same_key_independently(as_user: Any, backend: Backend) -> None:
    alice, bob = as_user(), as_user()
    key = _key()
    for_alice = await alice.post("/orders", json=order_body(item("latte")), **_with_key(key))
    for_bob = await bob.post("/orders", json=order_body(item("mocha")), **_with_key(key))

    assert (for_alice.status_code, for_bob.status_code) == (201, 201)
    assert "idempotent-replayed" not in for_bob.headers
    assert await stored_order_ids(backend.url, [alice.subject]) == [for_alice.json()["id"]]
    assert await stored_order_ids(backend.url, [bob.subject]) == [for_bob.json()["id"]]


INVALID_KEYS = {
    "empty": b"",
    "empty-string-form": b'""',
    "256-characters": b"k" * 256,
    "256-characters-quoted": b'"' + b"k" * 256 + b'"',
    "not-ascii": "clé".encode(),
    "control-character": b"key\x01",
    "delete-character": b"key\x7f",
    "unterminated-string": b'"key',
    "bad-escape": b'"k\\ey"',
    "unescaped-quote-inside": b'"k"ey"',
    "with-parameters": b'"key";expires=60',
}


@pytest.mark.parametrize("raw", INVALID_KEYS.values(), ids=INVALID_KEYS.keys())
async def test_an_invalid_key_is_400_with_detail_and_creates_nothing(
    user: UserClient, backend: Backend, raw: bytes
) -> None:
    refused = await user.post("/orders", json=order_body(), **_with_key(raw))

    assert refused.status_code == 400
    assert "Idempotency-Key must be" in refused.json()["detail"]
    assert await stored_order_ids(backend.url, [user.subject]) == []
    assert await _stored_keys(backend, user.subject) == []


async def test_a_key_of_255_characters_is_accepted(user: UserClient) -> None:
    assert (await user.post("/orders", json=order_body(), **_with_key("k" * 255))).status_code == 201


async def test_a_refused_change_binds_no_key(user: UserClient, backend: Backend) -> None:
    order = await user.create()
    await user.post(f"/orders/{order['id']}/cancel")
    key = _key()

    refused = await user.post(f"/orders/{order['id']}/pay", **_with_key(key))
    missing = await user.post(f"/orders/{uuid.uuid4()}/pay", **_with_key(key))
    # Not a 422: neither failure stored anything under the key, so it is free for this request.
    created = await user.post("/orders", json=order_body(), **_with_key(key))

    assert (refused.status_code, missing.status_code, created.status_code) == (409, 404, 201)
    assert await _stored_keys(backend, user.subject) == [key]


async def test_the_key_header_is_ignored_where_it_does_not_apply(user: UserClient) -> None:
    order = await user.create()
    key = _key()
    for _ in range(2):
        replaced = await user.put(f"/orders/{order['id']}", json=order_body(item("mocha")), **_with_key(key))
        assert replaced.status_code == 200
        assert "idempotent-replayed" not in replaced.headers
    assert (await user.get(f"/orders/{order['id']}", **_with_key("\x01"))).status_code == 200


# --- retention and waiting, on an app with short settings ---------------------------------------------

TTL_SECONDS = 1.0
WAIT_SECONDS = 0.3


@contextlib.asynccontextmanager
async def _short_lived_users(backend: Backend, keys: KeyPair, token_for: TokenMinter) -> AsyncIterator[Any]:
    app = create_app(
        app_settings(backend, keys, idempotency_key_ttl=TTL_SECONDS, idempotency_key_wait=WAIT_SECONDS)
    )
    async with AsyncTestClient(serving_stack(app)) as client:

        def make() -> UserClient:
            subject = new_user()
            return UserClient(client, subject, token_for(subject))

        yield make


@pytest.fixture(scope="module")
async def short_lived(backend: Backend, keys: KeyPair, token_for: TokenMinter) -> AsyncIterator[Any]:
    """`short_lived()`: a new user on an app whose keys expire after 1 s and whose duplicates wait 0.3 s."""
    async with _short_lived_users(backend, keys, token_for) as make:
        yield make


@pytest.fixture(scope="module")
def postgres_backend(make_postgres_database: Any) -> Backend:
    """A migrated PostgreSQL database of this module's own, for what only PostgreSQL can show."""
    url: str = make_postgres_database()
    run_migrations(url)
    return Backend("postgres", url)


@pytest.fixture(scope="module")
async def short_lived_on_postgres(
    postgres_backend: Backend, keys: KeyPair, token_for: TokenMinter
) -> AsyncIterator[Any]:
    async with _short_lived_users(postgres_backend, keys, token_for) as make:
        yield make


async def test_an_expired_key_runs_again_and_expired_keys_are_removed(
    short_lived: Any, backend: Backend
) -> None:
    user = short_lived()
    first = await user.post("/orders", json=order_body(), **_with_key("expiring"))
    await user.post("/orders", json=order_body(), **_with_key("old"))
    await asyncio.sleep(TTL_SECONDS + 0.2)

    again = await user.post("/orders", json=order_body(), **_with_key("expiring"))

    assert (first.status_code, again.status_code) == (201, 201)
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert len(await stored_order_ids(backend.url, [user.subject])) == 3
    # The new claim took "expiring" over and removed the expired "old" on its way.
    assert await _stored_keys(backend, user.subject) == ["expiring"]


# SQLite runs one writer at a time: there a duplicate always finds the first request finished.
@pytest.mark.postgres
async def test_a_duplicate_of_a_request_still_running_gets_409_after_the_wait(
    short_lived_on_postgres: Any, postgres_backend: Backend
) -> None:
    user = short_lived_on_postgres()
    backend = postgres_backend
    url = make_url(backend.url)
    # The first request, frozen inside its transaction: its key inserted, nothing committed yet.
    first = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        transaction = first.transaction()
        await transaction.start()
        await first.execute(
            "INSERT INTO idempotency_keys (subject, key, fingerprint, created_at) VALUES ($1, $2, $3, now())",
            user.subject,
            "busy",
            "0" * 64,
        )
        duplicate = await user.post("/orders", json=order_body(), **_with_key("busy"))
        await transaction.rollback()
    finally:
        await first.close()
    retried = await user.post("/orders", json=order_body(), **_with_key("busy"))

    assert duplicate.status_code == 409
    assert "still being processed" in duplicate.json()["detail"]
    assert duplicate.headers["retry-after"] == "1"
    # The first request never committed, so the retry is the one that runs.
    assert retried.status_code == 201
    assert await stored_order_ids(backend.url, [user.subject]) == [retried.json()["id"]]
