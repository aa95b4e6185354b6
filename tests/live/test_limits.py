"""Resource limits on a real server: in-flight requests under a flood, request bodies, header size, idle
and excess connections.

Each limit is a setting (docs/limits.md); the load-shedding layer alone, in-process: tests/api/test_limits.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time
from typing import Any

import httpx
import pytest

from orders_app.edge.overload import OVERLOADED
from tests.conftest import TokenMinter
from tests.factories import new_user, order_body
from tests.live_server import LiveServer

# One server for the module (starting one costs seconds on a busy machine), with every limit set low
# enough to reach: the flood opens 60 connections, under MAX_CONNECTIONS, and the silent-connection
# test opens MAX_CONNECTIONS of them.
LIMITS = {
    "MAX_CONCURRENCY": "2",
    "MAX_CONNECTIONS": "80",
    "MAX_BODY_BYTES": "4096",
    "MAX_HEADER_BYTES": "4096",
    "KEEPALIVE_TIMEOUT": "1",
}


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return LIMITS


@pytest.mark.slow
async def test_a_flood_over_max_concurrency_gets_fast_json_503s(
    server: LiveServer, token_for: TokenMinter
) -> None:
    headers = {"Authorization": f"Bearer {token_for(new_user())}"}
    flood = 60
    limits = httpx.Limits(max_connections=flood, max_keepalive_connections=flood)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:

        async def create() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await client.post("/orders", json=order_body(), headers=headers)
            return response, time.perf_counter() - started

        results = await asyncio.gather(*(create() for _ in range(flood)))
        live = await client.get("/health/live")

    statuses = [response.status_code for response, _ in results]
    refused = [(response, seconds) for response, seconds in results if response.status_code == 503]
    assert set(statuses) <= {201, 503}, statuses
    assert refused, "60 simultaneous creates against a limit of 2 should have shed some load"
    assert statuses.count(201) >= 2
    for response, _ in refused:
        assert response.json() == {"detail": OVERLOADED}
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-request-id"]
    refused_ms = sorted(seconds * 1000 for _, seconds in refused)
    print(
        f"\nflood of {flood} creates, MAX_CONCURRENCY=2: {statuses.count(201)} x 201, {len(refused)} x 503; "
        f"503 latency median {statistics.median(refused_ms):.1f} ms, max {refused_ms[-1]:.1f} ms"
    )
    assert live.status_code == 200


# A liveness request asking the server to close afterwards; callers finish the header block.
LIVE_AND_CLOSE = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


def _raw_request(port: int, request: bytes, *, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


@pytest.mark.slow
def test_a_chunked_body_over_max_body_bytes_is_413_with_detail(
    server: LiveServer, token_for: TokenMinter
) -> None:
    # No Content-Length: the limit must hold while the body streams in, not only for declared sizes.
    headers = {"Authorization": f"Bearer {token_for(new_user())}", "Content-Type": "application/json"}

    def chunks() -> Any:
        yield b'{"order":['
        for _ in range(200):
            yield b'{"product":"latte","size":"small"},'
        yield b'{"product":"latte","size":"small"}]}'

    response = httpx.post(f"{server.url}/orders", content=chunks(), headers=headers, timeout=30)
    small = httpx.post(f"{server.url}/orders", json=order_body(), headers=headers, timeout=30)
    assert response.status_code == 413
    assert "detail" in response.json()
    assert small.status_code == 201


@pytest.mark.slow
def test_a_header_block_growing_past_max_header_bytes_is_rejected(server: LiveServer) -> None:
    # What a request whose headers are still incomplete may buffer is bounded, which is what a slow
    # or malicious client builds up: the connection is answered 431 and closed (both parsers:
    # tests/live/test_header_limits.py).
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        try:
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            for _ in range(8):
                connection.sendall(b"X-Filler: " + b"a" * 1024 + b"\r\n")
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up part-way, as it should; its answer is already in the buffer
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(65536):
                received += chunk
    fitting = _raw_request(
        server.port,
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: "
        + b"a" * 2048
        + b"\r\n\r\n",
    )
    assert received.startswith(b"HTTP/1.1 431 "), received[:200]
    assert fitting.startswith(b"HTTP/1.1 200 "), fitting[:200]


@pytest.mark.slow
def test_idle_keep_alive_connections_are_closed_after_keepalive_timeout(server: LiveServer) -> None:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    with connection:
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while not response.endswith(b'{"status":"ok"}'):
            response += connection.recv(65536)
        assert response.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        # The server closes the idle connection: recv returns end-of-stream.
        assert connection.recv(65536) == b""
        idle = time.monotonic() - started
    assert 0.5 <= idle < 10, f"closed after {idle:.2f} s"


@pytest.mark.slow
def test_excess_connections_are_refused_even_if_they_never_send_a_request(server: LiveServer) -> None:
    # Half-open or silent connections (slowloris) count against MAX_CONNECTIONS: once a process holds
    # that many, uvicorn itself answers 503 instead of letting sockets and memory grow without bound;
    # only the health probes are still answered.
    limit = int(LIMITS["MAX_CONNECTIONS"])
    silent = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(limit)]
    try:
        for connection in silent:
            connection.sendall(b"GET /health/live HTTP/1.1\r\n")  # headers never finished
        time.sleep(0.5)
        refused = _raw_request(server.port, b"GET /orders HTTP/1.1\r\nHost: x\r\n\r\n")
        probe = _raw_request(server.port, LIVE_AND_CLOSE + b"\r\n")
    finally:
        for connection in silent:
            connection.close()
    time.sleep(0.5)
    recovered = _raw_request(
        server.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert refused.startswith(b"HTTP/1.1 503 "), refused[:200]
    assert probe.startswith(b"HTTP/1.1 200 "), probe[:200]
    assert recovered.startswith(b"HTTP/1.1 200 "), recovered[:200]
