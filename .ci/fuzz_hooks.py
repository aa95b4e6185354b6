"""Schemathesis hooks for .ci/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

The one thing a schema cannot describe here is the paging cursor of GET /orders: it is opaque, and only
strings this API issued in a `Link: rel="next"` header are valid; any other string is rightly a 422
("cursor is not one this API issued"). Generated cursors would be forged ones, which the
positive-data check would then report as valid data rejected. Generated queries that carry a cursor
are dropped instead, so every check stays on for the rest of the operation; issued, forged and
over-long cursors are covered by tests/api/test_orders_list.py.

The other is the Idempotency-Key: a key names one intended change, so a client sends a new key for each
new request, and a repeat gets the first answer (even if the order changed since, or 422 for a different
request). Generated keys repeat across cases, where a client's would not: a positive case whose key was
already sent (the same key to the server's parser) gets a fresh UUID in the same form, bare or quoted.
Repeats, reuse and malformed keys are covered by tests/api/test_idempotency_keys.py.

Last, the coverage phase's "default positive test" may fill an optional header with a value its
documented pattern refuses (seen: `If-Match: 0`, generated as the integer 0) while labelling the case
positive; such a header is left out, which leaves the case positive. Malformed conditions are refused
with 400 in tests/api/test_conditional_requests.py and by the negative cases here.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import schemathesis
import yaml
from schemathesis import GenerationMode

from orders_app.api.idempotency import parse_key
from orders_app.domain.errors import InvalidIdempotencyKey

_KEY_HEADER = "idempotency-key"
_sent_keys: set[str] = set()
_CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[1] / "oas.yaml").read_text(encoding="utf-8"))
# Optional request headers by lower-case name, with the pattern oas.yaml documents for each.
_HEADER_PATTERNS = {
    parameter["name"].lower(): re.compile(parameter["schema"]["pattern"])
    for parameter in _CONTRACT["components"]["parameters"].values()
    if parameter["in"] == "header" and not parameter.get("required") and "pattern" in parameter["schema"]
}


def _is_list_orders(context: Any) -> bool:
    operation = context.operation
    return operation is not None and (operation.method.upper(), operation.path) == ("GET", "/orders")


@schemathesis.hook
def filter_query(context: Any, query: dict[str, Any] | None) -> bool:
    """Fuzzing and stateful phases: generated queries with a forged cursor are not produced at all."""
    return not (_is_list_orders(context) and query and "cursor" in query)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Coverage phase (which bypasses filters): a positive case is sent without its forged cursor.

    Negative cases keep theirs: whatever makes them invalid, they must still be refused.
    """
    meta = getattr(case, "_meta", None)
    positive = meta is not None and meta.generation.mode == GenerationMode.POSITIVE
    if positive and _is_list_orders(context) and case.query and "cursor" in case.query:
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    if positive and case.headers:
        case.headers = {
            name: value
            for name, value in case.headers.items()
            if name.lower() not in _HEADER_PATTERNS or _HEADER_PATTERNS[name.lower()].fullmatch(str(value))
        }
        _one_key_per_request(case)


def _one_key_per_request(case: Any) -> None:
    """Every positive case sends a key no earlier case sent, as a client does for a new request."""
    for name, sent in case.headers.items():
        if name.lower() != _KEY_HEADER or not isinstance(sent, str):
            continue
        try:
            key = parse_key(sent.encode())
        except InvalidIdempotencyKey:
            return
        if key in _sent_keys:
            key = str(uuid.uuid4())
            case.headers = {**case.headers, name: f'"{key}"' if sent.strip(" \t").startswith('"') else key}
        _sent_keys.add(key)
        return
