"""oas.yaml declares the bearer scheme on every /orders operation, with its 401, and none on the probes."""

from __future__ import annotations

from typing import Any

import pytest

from orders_app.contract import load_contract

METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return load_contract()[1]


def operations(contract: dict[str, Any], prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = [
        (path, method, operation)
        for path, item in contract["paths"].items()
        if path.startswith(prefix)
        for method, operation in item.items()
        if method in METHODS
    ]
    assert found, f"no operations under {prefix}"
    return found


def test_the_bearer_scheme_is_declared_and_required_by_default(contract: dict[str, Any]) -> None:
    scheme = contract["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    assert contract["security"] == [{"bearerAuth": []}]


def test_every_orders_operation_needs_the_token_and_documents_401(contract: dict[str, Any]) -> None:
    for path, method, operation in operations(contract, "/orders"):
        assert operation.get("security", contract["security"]) == [{"bearerAuth": []}], (method, path)
        assert operation["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}, (
            method,
            path,
        )


def test_the_401_response_declares_the_challenge_and_error_body(contract: dict[str, Any]) -> None:
    unauthorized = contract["components"]["responses"]["Unauthorized"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert unauthorized["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_health_probes_need_no_token(contract: dict[str, Any]) -> None:
    for path, method, operation in operations(contract, "/health"):
        assert operation["security"] == [], (method, path)
        assert "401" not in operation["responses"]
