"""A few requests that prove the peer answers what the orders API answers, before it is measured.

wrk only counts statuses: a peer that answered 200 with the wrong body, an empty page or someone
else's order would still look fast. These checks make the comparison (and CI's smoke run) fail instead.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

ORDER_FIELDS = {"id", "created", "status", "order"}
# The body bench/scenario.lua posts.
POST_BODY = {"order": [{"product": "latte", "size": "small", "quantity": 1}]}


def _call(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - a 127.0.0.1 URL of ours
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def problems(base: str, *, reader: str, writer: str, wrong_audience: str, ids: list[str]) -> list[str]:
    """What is wrong with the answers at `base` for the seeded reader's orders `ids`; empty when right."""
    found: list[str] = []
    status, order = _call(f"{base}/orders", writer, "POST", POST_BODY)
    if status != 201 or not isinstance(order, dict) or set(order) != ORDER_FIELDS:
        found.append(f"POST /orders answered {status} {order!r}")
    elif order["status"] != "created" or order["order"] != POST_BODY["order"]:
        found.append(f"POST /orders answered another order: {order!r}")
    status, order = _call(f"{base}/orders/{ids[0]}", reader)
    if status != 200 or not isinstance(order, dict) or set(order) != ORDER_FIELDS or order["id"] != ids[0]:
        found.append(f"GET /orders/{{id}} answered {status} {order!r}")
    status, _ = _call(f"{base}/orders/{ids[0]}", writer)
    if status != 404:
        found.append(f"GET of another user's order answered {status}, not 404")
    status, _ = _call(f"{base}/orders/{ids[0]}", wrong_audience)
    if status != 401:
        found.append(f"a token for another audience was answered {status}, not 401")
    status, page = _call(f"{base}/orders?limit=50", reader)
    orders = page.get("orders") if isinstance(page, dict) else None
    if status != 200 or not isinstance(orders, list):
        found.append(f"GET /orders?limit=50 answered {status} {page!r}")
    else:
        created = [dt.datetime.fromisoformat(order["created"]) for order in orders]
        if len(orders) != 50 or created != sorted(created, reverse=True):
            found.append(f"GET /orders?limit=50 gave {len(orders)} orders, not the 50 newest first")
        elif {order["id"] for order in orders} != set(ids[-50:]):
            found.append("GET /orders?limit=50 gave other orders than the reader's 50 newest")
    return found
