"""Property: any body valid under oas.yaml's CreateOrder is accepted (201); any other is 422, never 500."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from litestar.testing import TestClient

from orders_app.app import create_asgi_app
from tests.conftest import Backend, TokenMinter, app_settings
from tests.factories import new_user

CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[2] / "oas.yaml").read_text())


def _inline(schema: Any) -> Any:
    """Resolve oas.yaml's local $refs into one self-contained JSON Schema, for Python's regex engine.

    Patterns in OpenAPI are ECMA-262, whose `$` matches only at the very end; Python's also matches
    before a final newline, so a trailing `$` becomes `\\Z` to keep the contract's meaning.
    """
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(CONTRACT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
        inlined = {key: _inline(value) for key, value in schema.items()}
        if isinstance(inlined.get("pattern"), str) and inlined["pattern"].endswith("$"):
            inlined["pattern"] = inlined["pattern"][:-1] + r"\Z"
        return inlined
    if isinstance(schema, list):
        return [_inline(value) for value in schema]
    return schema


CREATE_ORDER = _inline(CONTRACT["components"]["schemas"]["CreateOrder"])
# OpenAPI 3.0 schemas are JSON Schema draft 4 (where 1.0 is not an integer, as msgspec agrees).
VALIDATOR = Draft4Validator(CREATE_ORDER)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under the (small) subset of JSON Schema that oas.yaml's request bodies use.

    Written here rather than taken from hypothesis-jsonschema, which does not run on current
    Hypothesis; an unsupported keyword fails loudly so the generator never silently under-covers.
    """
    supported = {"type", "enum", "properties", "required", "additionalProperties", "items"}
    supported |= {"minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "default"}
    supported |= {"pattern", "description"}
    unknown = set(schema) - supported
    assert not unknown, f"from_schema does not understand {unknown}"
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        text = st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 50))
        if "pattern" in schema:
            # Mostly printable text plus the odd control character, filtered by the documented pattern.
            text = text.filter(re.compile(schema["pattern"]).search)
        return text
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "array":
        return st.lists(
            from_schema(schema["items"]),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 5),
        )
    assert kind == "object"
    assert schema.get("additionalProperties") is False, "only closed objects are generated"
    required = set(schema.get("required", []))
    properties = {name: from_schema(sub) for name, sub in schema["properties"].items()}
    return st.fixed_dictionaries(
        {name: strategy for name, strategy in properties.items() if name in required},
        optional={name: strategy for name, strategy in properties.items() if name not in required},
    )


def _encodable(body: Any) -> bool:
    try:
        json.dumps(body).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return False
    return True


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
items = st.fixed_dictionaries(
    {
        "product": st.one_of(st.text(max_size=210), json_values),
        "size": st.sampled_from(["small", "big", "huge", 1]),
    },
    optional={"quantity": st.one_of(st.integers(-5, 1_000_005), json_values), "extra": json_values},
)
near_valid = st.fixed_dictionaries({"order": st.lists(items, max_size=5)}, optional={"extra": json_values})
anything = st.one_of(near_valid, json_values, from_schema(CREATE_ORDER)).filter(_encodable)


def _client_as_new_user(
    backend: Backend, keys: Any, token_for: TokenMinter
) -> tuple[TestClient[Any], dict[str, str]]:
    client = TestClient(create_asgi_app(app_settings(backend, keys)))
    return client, {"Authorization": f"Bearer {token_for(new_user('prop'))}"}


def test_every_body_valid_under_the_contract_is_accepted(
    backend: Backend, keys: Any, token_for: TokenMinter
) -> None:
    client, headers = _client_as_new_user(backend, keys, token_for)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=from_schema(CREATE_ORDER).filter(_encodable))
    def accepted(body: dict[str, Any]) -> None:
        response = client.post("/orders", json=body, headers=headers)
        assert response.status_code == 201, (body, response.text)
        returned = response.json()["order"]
        assert [item["product"] for item in returned] == [item["product"] for item in body["order"]]

    with client:
        accepted()


def test_every_body_the_contract_rejects_is_422_and_never_500(
    backend: Backend, keys: Any, token_for: TokenMinter
) -> None:
    client, headers = _client_as_new_user(backend, keys, token_for)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=anything)
    def judged_like_the_contract(body: Any) -> None:
        response = client.post("/orders", json=body, headers=headers)
        expected = 201 if VALIDATOR.is_valid(body) else 422
        assert response.status_code == expected, (body, response.text)
        assert "detail" in response.json() or expected == 201

    with client:
        judged_like_the_contract()
