"""Builders for request bodies and users: tests say what differs, factories supply the rest."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

_users = itertools.count(1)


def new_user(prefix: str = "user") -> str:
    """A subject nobody else in the test session uses, so tests never see each other's orders."""
    return f"{prefix}-{next(_users)}-{uuid.uuid4().hex[:8]}"


def item(product: str = "cappuccino", size: str = "small", quantity: int | None = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"product": product, "size": size}
    if quantity is not None:
        body["quantity"] = quantity
    return body


def order_body(*items: dict[str, Any]) -> dict[str, Any]:
    return {"order": list(items) if items else [item()]}
