"""Hostile inputs against a real `orders-app serve` on each backend: a 422, never a 500.

The in-process suites cover the same inputs in detail; this one proves the served process (uvicorn, its
parser, the serving stack) answers them the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Backend, TokenMinter
from tests.factories import order_body
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

INVALID_UTF8_BODY = b'{"order":[{"product":"lat\xffte","size":"small","quantity":1}]}'


@pytest.fixture(scope="module")
def server_db_url(backend: Backend) -> str:
    return backend.url


@pytest.fixture
def http(server: LiveServer, token_for: TokenMinter) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token_for(f'hostile-{uuid.uuid4().hex[:8]}')}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


def _refused_with_detail(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["detail"], response.text


def test_invalid_utf8_inside_a_json_string_is_422_on_post_and_put(http: httpx.Client) -> None:
    json_type = {"Content-Type": "application/json"}
    _refused_with_detail(http.post("/orders", content=INVALID_UTF8_BODY, headers=json_type))
    created = http.post("/orders", json=order_body())
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    _refused_with_detail(http.put(f"/orders/{order_id}", content=INVALID_UTF8_BODY, headers=json_type))
    assert http.get(f"/orders/{order_id}").json() == created.json(), "the refused PUT changed nothing"


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_forged_cursor_with_an_extreme_offset_is_422(http: httpx.Client, created: str) -> None:
    raw = f"{created}|{uuid.uuid4()}".encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    _refused_with_detail(http.get("/orders", params={"cursor": cursor}))
