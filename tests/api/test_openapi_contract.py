"""oas.yaml is the published contract: the app serves it, and code and document cannot drift apart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from orders_app.api.conditions import expected_version
from orders_app.api.docs import ASSETS_PATH, DOCS_PATH
from orders_app.api.idempotency import parse_key
from orders_app.api.schemas import CreateOrder, Health, Order, OrderList
from orders_app.domain import limits
from orders_app.domain.errors import InvalidIdempotencyKey, InvalidPrecondition

REPO = Path(__file__).resolve().parents[2]
CONTRACT = yaml.safe_load((REPO / "oas.yaml").read_text())
DOCUMENTATION_ROUTES = {
    ("GET", "/openapi.yaml"),
    ("GET", "/openapi.json"),
    # The reference page renders this contract; it is not part of it (docs/api-docs.md).
    ("GET", DOCS_PATH),
    ("GET", f"{ASSETS_PATH}/{{name:str}}"),
}
IGNORED_KEYWORDS = {"title", "description", "example", "examples"}


def _normalise(schema: Any) -> Any:
    """Compare meaning, not presentation: drop prose, sort enums and required lists."""
    if isinstance(schema, dict):
        out = {key: _normalise(value) for key, value in schema.items() if key not in IGNORED_KEYWORDS}
        for key in ("enum", "required"):
            if key in out:
                out[key] = sorted(out[key])
        return out
    if isinstance(schema, list):
        return [_normalise(value) for value in schema]
    return schema


def test_wire_schemas_match_the_published_components() -> None:
    _, components = msgspec.json.schema_components(
        (CreateOrder, Order, OrderList, Health), ref_template="#/components/schemas/{name}"
    )
    published = CONTRACT["components"]["schemas"]
    for name, schema in components.items():
        assert name in published, f"{name} is used on the wire but missing from oas.yaml"
        assert _normalise(schema) == _normalise(published[name]), f"{name} drifted from oas.yaml"


def test_every_route_is_documented_and_every_documented_route_exists(app: Litestar) -> None:
    served = {
        (method, route.path.replace("{order_id:str}", "{order_id}"))
        for route in app.routes
        for method in getattr(route, "methods", set())
        if method not in {"HEAD", "OPTIONS"}
    } - DOCUMENTATION_ROUTES
    documented = {
        (method.upper(), path)
        for path, item in CONTRACT["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == documented


def test_operation_ids_match_the_handlers(app: Litestar) -> None:
    documented = {
        op["operationId"]
        for item in CONTRACT["paths"].values()
        for method, op in item.items()
        if method != "parameters"
    }
    handlers = {
        handler.operation_id
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.operation_id
    }
    assert documented <= handlers


def test_documented_bounds_match_the_code() -> None:
    # The body's bounds are compared with the components above; these are the query's.
    parameters = {p["name"]: p["schema"] for p in CONTRACT["paths"]["/orders"]["get"]["parameters"]}
    assert parameters["limit"]["minimum"] == limits.PAGE_SIZE_MIN
    assert parameters["limit"]["maximum"] == limits.PAGE_SIZE_MAX
    assert parameters["limit"]["default"] == limits.PAGE_SIZE_DEFAULT
    assert parameters["cursor"]["maxLength"] == limits.CURSOR_MAX_LENGTH


async def test_the_app_serves_the_committed_document(client: AsyncTestClient[Litestar]) -> None:
    as_yaml = await client.get("/openapi.yaml")
    assert as_yaml.status_code == 200
    assert as_yaml.text == (REPO / "oas.yaml").read_text()
    as_json = await client.get("/openapi.json")
    assert as_json.status_code == 200
    assert as_json.json() == CONTRACT


def test_the_cli_prints_the_same_document() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "orders_app", "openapi"], capture_output=True, text=True, check=True
    )
    assert printed.stdout == (REPO / "oas.yaml").read_text()


def test_every_orders_operation_requires_the_bearer_scheme_and_documents_401() -> None:
    assert CONTRACT["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert CONTRACT["security"] == [{"bearerAuth": []}]
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if path.startswith("/orders"):
                assert "security" not in operation, f"{method} {path} must not override security"
                assert "401" in operation["responses"], f"{method} {path} lacks 401"
            else:
                assert operation.get("security") == [], f"{method} {path} should be public"


def test_operations_that_take_a_body_take_json_only_and_document_415(app: Litestar) -> None:
    from orders_app.api import schemas

    documented_with_body = set()
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            takes_body = "requestBody" in operation
            assert ("415" in operation["responses"]) == takes_body, f"{method} {path}: 415 iff a body"
            if takes_body:
                assert set(operation["requestBody"]["content"]) == {schemas.JSON_MEDIA_TYPE}
                documented_with_body.add(operation["operationId"])
    handlers_with_body = {
        handler.operation_id
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "data" in handler.parsed_fn_signature.parameters
    }
    assert handlers_with_body == documented_with_body
    assert CONTRACT["components"]["responses"]["UnsupportedMediaType"]["content"]["application/json"]


IDEMPOTENT_WRITES = {
    ("/orders", "post"),
    ("/orders/{order_id}/pay", "post"),
    ("/orders/{order_id}/cancel", "post"),
}


def test_the_idempotency_key_is_documented_exactly_where_it_applies() -> None:
    key = {"$ref": "#/components/parameters/IdempotencyKey"}
    keyed = {
        (path, method)
        for path, item in CONTRACT["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and key in operation.get("parameters", [])
    }
    assert keyed == IDEMPOTENT_WRITES
    for path, method in keyed:
        responses = CONTRACT["paths"][path][method]["responses"]
        assert {"400", "409", "422"} <= responses.keys(), f"{method} {path}"
        [success] = [code for code in responses if code.startswith("2")]
        assert "Idempotent-Replayed" in responses[success]["headers"], f"{method} {path}"
    described = CONTRACT["components"]["parameters"]["IdempotencyKey"]["description"]
    assert f"{limits.IDEMPOTENCY_KEY_MIN_LENGTH}\N{EN DASH}{limits.IDEMPOTENCY_KEY_MAX_LENGTH}" in described


KEY_PATTERN = re.compile(CONTRACT["components"]["parameters"]["IdempotencyKey"]["schema"]["pattern"])
# Printable ASCII around the edges of the rule: spaces, quotes and backslashes in every position.
KEY_ALPHABET = st.sampled_from([" ", '"', "\\", "k", "~", "!", "\x7f", "\t", "é"])


def _documented(raw: str) -> bool:
    """A field value as HTTP delivers it: without the whitespace around it (RFC 9110, 5.5)."""
    return KEY_PATTERN.fullmatch(raw.strip(" \t")) is not None


def _accepted(raw: str) -> bool:
    try:
        parse_key(raw.encode())
    except InvalidIdempotencyKey:
        return False
    return True


@pytest.mark.parametrize(
    "raw",
    [
        "k",
        "k" * 255,
        "k" * 256,
        '"k"',
        '"' + "k" * 255 + '"',
        '"' + "k" * 256 + '"',
        '""',
        "",
        " k",
        "k ",
        'k"',
        '"k\\"x"',
        '"k\\\\"',
        '"k\\e"',
        "a b",
        "k\x7f",
    ],
)
def test_the_documented_key_pattern_accepts_exactly_what_the_server_accepts(raw: str) -> None:
    assert _documented(raw) == _accepted(raw), raw


@given(st.text(KEY_ALPHABET, max_size=12) | st.builds(lambda s: f'"{s}"', st.text(KEY_ALPHABET, max_size=12)))
def test_the_documented_key_pattern_and_the_parser_agree_on_any_value(raw: str) -> None:
    assert _documented(raw) == _accepted(raw), raw


CONDITION_PATTERN = re.compile(CONTRACT["components"]["parameters"]["IfMatch"]["schema"]["pattern"])
CONDITION_ALPHABET = st.sampled_from([" ", "\t", ",", '"', "W/", "W", "/", "*", "3", "a"])


def _condition_accepted(raw: str) -> bool:
    request = SimpleNamespace(scope={"headers": [(b"if-match", raw.strip(" \t").encode())]})
    try:
        expected_version(request)  # type: ignore[arg-type]
    except InvalidPrecondition:
        return False
    return True


@given(st.lists(CONDITION_ALPHABET, max_size=14).map("".join))
def test_the_documented_condition_pattern_and_the_parser_agree_on_any_value(raw: str) -> None:
    documented = CONDITION_PATTERN.fullmatch(raw.strip(" \t")) is not None
    assert documented == _condition_accepted(raw), raw


def test_both_condition_headers_share_one_documented_rule() -> None:
    parameters = CONTRACT["components"]["parameters"]
    assert parameters["IfMatch"]["schema"] == parameters["IfNoneMatch"]["schema"]


def test_the_conditions_are_documented_exactly_where_they_apply() -> None:
    def using(name: str) -> set[tuple[str, str]]:
        reference = {"$ref": f"#/components/parameters/{name}"}
        return {
            (path, method)
            for path, item in CONTRACT["paths"].items()
            for method, operation in item.items()
            if method != "parameters" and reference in operation.get("parameters", [])
        }

    one = "/orders/{order_id}"
    assert using("IfNoneMatch") == {(one, "get")}
    assert using("IfMatch") == {
        (one, "put"),
        (one, "delete"),
        (f"{one}/pay", "post"),
        (f"{one}/cancel", "post"),
    }
    for path, method in using("IfMatch"):
        assert {"400", "412"} <= CONTRACT["paths"][path][method]["responses"].keys(), f"{method} {path}"
    for path, method in {*using("IfMatch") - {(one, "delete")}, (one, "get"), ("/orders", "post")}:
        [success] = [code for code in CONTRACT["paths"][path][method]["responses"] if code.startswith("2")]
        assert "ETag" in CONTRACT["paths"][path][method]["responses"][success]["headers"], f"{method} {path}"
