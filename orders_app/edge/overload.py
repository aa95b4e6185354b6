"""The load-shedding answer both concurrency limits give: 503, JSON `detail` and Retry-After."""

from __future__ import annotations

import json
from typing import Any

from litestar.types import Send

OVERLOADED = "The service is handling too many requests; please retry shortly."
SUBJECT_OVERLOADED = "You have too many requests in flight; please retry shortly."


def overloaded_response(detail: str, retry_after_seconds: int = 1) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of a load-shedding 503: JSON `detail` and Retry-After."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_seconds).encode()),
    ]
    return headers, body


async def send_overloaded(send: Send, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: Any = {"type": "http.response.start", "status": 503, "headers": headers}
    await send(start)
    message: Any = {"type": "http.response.body", "body": body, "more_body": False}
    await send(message)
