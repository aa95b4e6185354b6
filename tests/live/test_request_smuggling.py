"""Content-Length and Transfer-Encoding together (RFC 9112 section 6.3): 400, and the connection closed.

A proxy in front may frame such a request by one header and the server by the other, so whatever
follows could be read as a second, smuggled request. Both parsers, live server.
"""

from __future__ import annotations

import pytest

from tests.live.conftest import both_parsers
from tests.live_server import LiveServer, raw_exchange, status_of

pytestmark = [pytest.mark.slow, both_parsers]


SMUGGLED = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    ],
)
def test_both_framing_headers_get_400_and_no_second_request_is_answered(
    server: LiveServer, framing: bytes
) -> None:
    request = b"POST /orders HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n0\r\n\r\n" + SMUGGLED
    response = raw_exchange(server.port, request)
    assert status_of(response) == 400, response[:300]
    assert response.count(b"HTTP/1.1 ") == 1, response
    assert b"connection: close" in response.lower()


def test_one_framing_header_keeps_the_connection_for_the_next_request(server: LiveServer) -> None:
    request = SMUGGLED + b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = raw_exchange(server.port, request)
    assert response.count(b"HTTP/1.1 200 ") == 2, response
