"""A client that hangs up in the middle of its request body is its own doing, not a server error.

Logged as status 499 with `client_closed: true` in the access log, and no ERROR line: otherwise anyone
could flood the error alerts by dropping uploads. Both parsers, live server, real sockets.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

from tests.conftest import TokenMinter
from tests.factories import new_user, order_body
from tests.live.conftest import both_parsers
from tests.live_server import LiveServer, access_log

pytestmark = [pytest.mark.slow, both_parsers]


def _lines(server: LiveServer, request_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in access_log(server) if line["request_id"] == request_id]
        if lines:
            return lines
        time.sleep(0.1)
    return []


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/orders"), ("PUT", "/orders/6f3c0e0e-6a57-4c55-9a5e-c6d1f4f3a1b2")]
)
def test_a_client_leaving_mid_body_is_logged_as_499_without_an_error_line(
    server: LiveServer, token_for: TokenMinter, method: str, path: str
) -> None:
    request_id = f"abort-{method}-{time.monotonic_ns()}"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token_for(new_user())}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 1000\r\nX-Request-ID: {request_id}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(head + b'{"order":[{"product":"lat')
        time.sleep(0.3)  # the app is reading the body when the client leaves
    lines = _lines(server, request_id)
    assert [line["status"] for line in lines] == [499]
    assert "ERROR" not in server.stderr()
    assert [line["client_closed"] for line in lines] == [True]
    assert "Traceback" not in server.stderr()


def test_complete_requests_are_not_marked_client_closed(server: LiveServer, token_for: TokenMinter) -> None:
    response = httpx.post(
        f"{server.url}/orders",
        json=order_body(),
        headers={"Authorization": f"Bearer {token_for(new_user())}", "X-Request-ID": "complete-1"},
        timeout=10,
    )
    assert response.status_code == 201
    assert [(line["status"], line["client_closed"]) for line in _lines(server, "complete-1")] == [
        (201, False)
    ]
