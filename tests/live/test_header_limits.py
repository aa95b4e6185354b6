"""Header bounds on a live server, under both uvicorn parsers (h11, and httptools as in the image).

MAX_HEADER_BYTES holds whether the header block grows slowly or arrives at once (431, connection
closed); an Authorization value over 8 KiB is refused before any token parsing; two Authorization
headers are a 400.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from orders_app.api.auth import DUPLICATE_AUTHORIZATION, MAX_AUTHORIZATION_BYTES
from orders_app.auth.failures import TOO_LARGE
from tests.conftest import TokenMinter
from tests.factories import new_user
from tests.live.conftest import both_parsers
from tests.live_server import LiveServer, raw_exchange, status_of

pytestmark = [pytest.mark.slow, both_parsers]

MAX_HEADER_BYTES = 32_768
LIVE = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {"MAX_HEADER_BYTES": str(MAX_HEADER_BYTES)}


def _body(response: bytes) -> Any:
    return json.loads(response.partition(b"\r\n\r\n")[2])


def test_a_header_block_that_keeps_growing_gets_431_and_the_connection_closed(server: LiveServer) -> None:
    # Twice the limit, never finished: the refusal cannot wait for the end of the block.
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        try:
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            for _ in range(2 * MAX_HEADER_BYTES // 4096):
                connection.sendall(b"X-Filler: " + b"a" * 4096 + b"\r\n")
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert status_of(received) == 431, received[:200]
    assert _body(received) == {"detail": "The request headers are too large."}


def test_a_complete_header_block_over_the_limit_in_one_write_gets_431(server: LiveServer) -> None:
    response = raw_exchange(server.port, LIVE + b"X-Filler: " + b"a" * (MAX_HEADER_BYTES + 100) + b"\r\n\r\n")
    assert status_of(response) == 431, response[:200]


def test_a_50_mb_header_is_refused_without_reading_it_all(server: LiveServer) -> None:
    started = time.monotonic()
    response = raw_exchange(server.port, LIVE + b"X-Filler: " + b"a" * 50_000_000 + b"\r\n\r\n", timeout=20)
    assert status_of(response) == 431, response[:200]
    assert time.monotonic() - started < 15
    assert status_of(raw_exchange(server.port, LIVE + b"\r\n")) == 200


def test_headers_just_under_the_limit_are_served(server: LiveServer) -> None:
    response = raw_exchange(server.port, LIVE + b"X-Filler: " + b"a" * (MAX_HEADER_BYTES - 200) + b"\r\n\r\n")
    assert status_of(response) == 200, response[:200]


def test_an_authorization_value_over_8_kib_is_401_before_any_parsing(server: LiveServer) -> None:
    junk = "Bearer " + "a" * MAX_AUTHORIZATION_BYTES
    response = httpx.get(f"{server.url}/orders", headers={"Authorization": junk}, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"detail": TOO_LARGE}
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_junk_bearer_tokens_do_not_slow_the_probes(server: LiveServer) -> None:
    # Each costs at most one header read (docs/limits.md, the `Authorization` header value bound).
    junk = b"GET /orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + b"a" * 30_000
    statuses = [status_of(raw_exchange(server.port, junk + b"\r\n\r\n")) for _ in range(20)]
    started = time.monotonic()
    live = httpx.get(f"{server.url}/health/live", timeout=10)
    assert statuses == [401] * 20
    assert live.status_code == 200
    assert time.monotonic() - started < 1


def test_two_authorization_headers_are_400(server: LiveServer, token_for: TokenMinter) -> None:
    token = token_for(new_user())
    request = (
        b"GET /orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + f"Authorization: Bearer {token}\r\nAuthorization: Bearer {token_for(new_user())}\r\n\r\n".encode()
    )
    response = raw_exchange(server.port, request)
    assert status_of(response) == 400, response[:300]
    assert _body(response) == {"detail": DUPLICATE_AUTHORIZATION}
    single = httpx.get(f"{server.url}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert single.status_code == 200


def test_a_body_still_arriving_after_an_early_answer_is_not_counted_as_headers(server: LiveServer) -> None:
    # The 401 goes out before the body is read; the rest of the body then arrives on the same
    # connection and must be read as body (discarded), with the next request served normally.
    body = b"x" * (4 * MAX_HEADER_BYTES)
    request = (
        b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    response = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request + body[:100])
        while b'"}' not in response:  # the 401's JSON body
            response += connection.recv(65536)
        connection.sendall(body[100:] + LIVE + b"\r\n")
        while chunk := connection.recv(65536):
            response += chunk
    assert response.count(b"HTTP/1.1 ") == 2, response[:400]
    assert status_of(response) == 401
    assert b"HTTP/1.1 200 " in response, response[:400]
