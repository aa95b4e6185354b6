"""The load-shedding layer on its own, in-process with a gated fake app: exactly which request is refused.

The same limit on a real server under a flood, with the other limits: tests/live/test_limits.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from orders_app.edge.in_flight import ConcurrencyLimit
from orders_app.edge.overload import OVERLOADED


class GatedApp:
    """An ASGI app whose requests stay in flight until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = 0
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.entered += 1
        self.arrivals.put_nowait(scope["path"])
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: Any, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
    start, body = messages
    return start["status"], dict(start["headers"]), body["body"]


async def test_requests_over_the_limit_are_refused_at_once_with_json_and_retry_after() -> None:
    inner = GatedApp()
    limited = ConcurrencyLimit(inner, 2)
    admitted = [asyncio.create_task(_call(limited, "/orders")) for _ in range(2)]
    for _ in range(2):
        await asyncio.wait_for(inner.arrivals.get(), timeout=5)

    status, headers, body = await asyncio.wait_for(_call(limited, "/orders"), timeout=1)

    assert status == 503
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"retry-after"] == b"1"
    assert json.loads(body) == {"detail": OVERLOADED}
    assert inner.entered == 2, "the refused request must never reach the application"

    # Probes are exempt: they get through while the limit is reached.
    probe = asyncio.create_task(_call(limited, "/health/live"))
    assert await asyncio.wait_for(inner.arrivals.get(), timeout=5) == "/health/live"
    inner.gate.set()
    assert [result[0] for result in await asyncio.gather(*admitted, probe)] == [200, 200, 200]

    # Capacity comes back once the admitted requests are done.
    assert limited.in_flight == 0
    assert (await _call(limited, "/orders"))[0] == 200


async def test_a_failing_request_gives_its_slot_back() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    limited = ConcurrencyLimit(broken, 1)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await _call(limited, "/orders")
    assert limited.in_flight == 0
