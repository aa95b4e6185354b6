"""Reading one order: found, missing, and malformed ids."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import UserClient


async def test_an_unknown_id_is_404_with_the_contract_message(user: UserClient) -> None:
    missing = uuid.uuid4()
    response = await user.get(f"/orders/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Order with ID {missing} not found"}


@pytest.mark.parametrize("path", ["/orders/not-a-uuid", "/orders/1234", "/orders/not-a-uuid/pay"])
async def test_a_malformed_id_is_422(user: UserClient, path: str) -> None:
    method = user.post if path.endswith("/pay") else user.get
    response = await method(path)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["key"] == "order_id"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/pay"), ("POST", "/cancel")],
)
async def test_every_single_order_operation_answers_404_for_an_unknown_id(
    user: UserClient, method: str, suffix: str
) -> None:
    missing = uuid.uuid4()
    kwargs = {"json": {"order": [{"product": "x", "size": "small"}]}} if method == "PUT" else {}
    response = await user.request(method, f"/orders/{missing}{suffix}", **kwargs)
    assert response.status_code == 404
    assert response.json() == {"detail": f"Order with ID {missing} not found"}


async def test_an_unknown_route_answers_404_with_a_json_detail(user: UserClient) -> None:
    response = await user.get("/nowhere")
    assert response.status_code == 404
    assert "detail" in response.json()


async def test_a_wrong_method_answers_405_with_a_json_detail(user: UserClient) -> None:
    response = await user.request("PATCH", "/orders")
    assert response.status_code == 405
    assert "detail" in response.json()
