"""Schemathesis hooks for .ci/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

The one thing a schema cannot describe here is the paging cursor of GET /orders: it is opaque, and only
strings this API issued in a `Link: rel="next"` header are valid; any other string is rightly a 422
("cursor is not one this API issued"). Generated cursors would be forged ones, which the
positive-data check would then report as valid data rejected. Generated queries that carry a cursor
are dropped instead, so every check stays on for the rest of the operation; issued, forged and
over-long cursors are covered by tests/api/test_orders_list.py.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import GenerationMode


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
