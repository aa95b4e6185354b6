"""Request bodies are JSON: another declared media type is 415; JSON with parameters, or none, is read."""

from __future__ import annotations

import json

import pytest

from tests.conftest import UserClient
from tests.factories import order_body

BODY = json.dumps(order_body()).encode()
NOT_JSON = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
    "multipart/form-data",
    "application/jsonx",
]


async def _send(
    user: UserClient, method: str, content_type: str | None, body: bytes = BODY
) -> tuple[int, dict]:
    url = f"/orders/{(await user.create())['id']}" if method == "PUT" else "/orders"
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = await user.request(method, url, content=body, headers=headers)
    return response.status_code, response.json()


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("content_type", NOT_JSON)
async def test_a_body_declared_as_another_media_type_is_415(
    user: UserClient, method: str, content_type: str
) -> None:
    status, body = await _send(user, method, content_type)
    assert status == 415
    assert "application/json" in body["detail"]


async def test_a_refused_body_changes_nothing(user: UserClient) -> None:
    order = await user.create()
    await user.put(f"/orders/{order['id']}", content=b'{"order": []}', headers={"Content-Type": "text/plain"})
    await user.post("/orders", content=BODY, headers={"Content-Type": "text/plain"})
    assert (await user.get("/orders")).json() == {"orders": [order]}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", None],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_json_with_parameters_or_no_declared_type_is_read_as_json(
    user: UserClient, method: str, content_type: str | None
) -> None:
    # A missing Content-Type is read as JSON, the only type the API takes, as the reference service did.
    status, body = await _send(user, method, content_type)
    assert status == (201 if method == "POST" else 200), body


async def test_an_empty_body_is_still_the_missing_body_error(user: UserClient) -> None:
    status, body = await _send(user, "POST", "text/plain", b"")
    assert status == 422
    assert body["detail"][0]["message"] == "a JSON request body is required"
