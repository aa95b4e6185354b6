"""Slow and silent clients on a live server, under both parsers: read deadlines, per-user share, probes.

Real sockets on 127.0.0.1, every attack bounded in count and time. While each runs, other users are
served and /health/live answers within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import httpx
import pytest

from orders_app.edge.overload import SUBJECT_OVERLOADED
from tests.conftest import TokenMinter
from tests.factories import new_user, order_body
from tests.live.conftest import both_parsers
from tests.live_server import LiveServer, access_log, raw_exchange, status_of

pytestmark = [pytest.mark.slow, both_parsers]

HEADER_TIMEOUT = 1.5
# The per-user share test looks at its trickling uploads after a POST and a probe of its own: on a loaded
# 2-core machine those have taken past 2 s, so the uploads' body deadline leaves three times that.
BODY_TIMEOUT = 6.0
PER_SUBJECT = 4
MAX_CONNECTIONS = 40


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return {
        "HEADER_READ_TIMEOUT": str(HEADER_TIMEOUT),
        "BODY_READ_TIMEOUT": str(BODY_TIMEOUT),
        "MAX_CONCURRENCY": "32",
        "MAX_CONCURRENCY_PER_SUBJECT": str(PER_SUBJECT),
        "MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }


def _read_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    started = time.monotonic()
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def _probe_seconds(server: LiveServer) -> float:
    started = time.monotonic()
    response = httpx.get(f"{server.url}/health/live", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as connection:
        received, waited = _read_until_closed(connection)
    assert status_of(received) == 408, received[:200]
    assert HEADER_TIMEOUT * 0.8 <= waited < HEADER_TIMEOUT + 5


def test_headers_trickled_byte_by_byte_are_cut_off_at_the_deadline(server: LiveServer) -> None:
    # Bytes keep arriving, so an idle timeout would never fire: the deadline is for the whole block.
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as connection:
        try:
            for byte in request:
                connection.sendall(bytes([byte]))
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, _ = _read_until_closed(connection)
    elapsed = time.monotonic() - started
    assert status_of(received) == 408, received[:200]
    assert elapsed < HEADER_TIMEOUT + 5


def test_a_body_trickled_past_the_body_deadline_gets_408_and_is_logged_as_408(
    server: LiveServer, token_for: TokenMinter
) -> None:
    token = token_for(new_user())
    body = b'{"order":[{"product":"latte","size":"small","quantity":1}]}'
    head = (
        f"POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nX-Request-ID: slow-body-1\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as connection:
        connection.sendall(head)
        try:
            for byte in body[:-1]:
                connection.sendall(bytes([byte]))
                time.sleep((BODY_TIMEOUT + 3) / len(body))  # still trickling 3 s past the deadline
        except (BrokenPipeError, ConnectionResetError):
            pass
        received, _ = _read_until_closed(connection)
    assert status_of(received) == 408, received[:200]
    assert time.monotonic() - started < BODY_TIMEOUT + 5
    time.sleep(0.3)
    lines = [line for line in access_log(server) if line["request_id"] == "slow-body-1"]
    assert [(line["status"], line["client_closed"]) for line in lines] == [(408, False)]
    assert "ERROR" not in server.stderr()


class SlowUploads:
    """`count` uploads on one token that trickle a byte every 0.2 s until stopped (threads, bounded)."""

    def __init__(self, port: int, token: str, count: int) -> None:
        self.port = port
        self.head = (
            f"POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        ).encode()
        self.count = count
        self.stop = threading.Event()
        # What each upload has received so far, updated as it arrives.
        self.answers = [b""] * count
        self.threads = [threading.Thread(target=self._upload, args=(i,), daemon=True) for i in range(count)]

    def _upload(self, index: int) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as connection:
            connection.sendall(self.head)
            connection.setblocking(False)
            while not self.stop.is_set():
                with contextlib.suppress(BlockingIOError, ConnectionResetError):
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    self.answers[index] += chunk
                with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                    connection.send(b" ")
                time.sleep(0.2)

    def __enter__(self) -> SlowUploads:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def test_one_users_slow_uploads_take_only_their_share_and_others_are_served(
    server: LiveServer, token_for: TokenMinter
) -> None:
    attacker = token_for(new_user())
    with SlowUploads(server.port, attacker, count=PER_SUBJECT + 12) as uploads:
        started = time.monotonic()
        time.sleep(0.5)  # all connected and past their headers, well inside the body deadline
        other = httpx.post(
            f"{server.url}/orders",
            json=order_body(),
            headers={"Authorization": f"Bearer {token_for(new_user())}"},
            timeout=5,
        )
        probe = _probe_seconds(server)
        time.sleep(0.3)
        refused_at_once = [answer for answer in uploads.answers if status_of(answer) == 503]
        still_trickling = [answer for answer in uploads.answers if not answer]
        looked_after = time.monotonic() - started
    assert looked_after < BODY_TIMEOUT, f"looked {looked_after:.1f} s in, past the uploads' body deadline"
    assert other.status_code == 201
    assert probe < 1
    # Everything past the attacker's share was refused while the others still trickled.
    assert len(refused_at_once) == 12, [answer[:60] for answer in uploads.answers]
    assert len(still_trickling) == PER_SUBJECT
    for answer in refused_at_once:
        assert SUBJECT_OVERLOADED.encode() in answer
        assert b"retry-after: 1" in answer.lower()


def test_silent_connections_up_to_max_connections_do_not_silence_the_probes(
    server: LiveServer, token_for: TokenMinter
) -> None:
    silent = [
        socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(MAX_CONNECTIONS)
    ]
    try:
        time.sleep(0.2)
        probe = _probe_seconds(server)
        refused = raw_exchange(server.port, b"GET /orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        pass
    # The header deadline frees every slot without any help from the clients.
    closed = 0
    for connection in silent:
        connection.settimeout(HEADER_TIMEOUT + 5)
        with contextlib.suppress(OSError):
            _read_until_closed(connection)
            closed += 1
        connection.close()
    token = token_for(new_user())
    served = httpx.get(f"{server.url}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert probe < 1
    assert status_of(refused) == 503, refused[:200]
    assert closed == MAX_CONNECTIONS
    assert served.status_code == 200


async def test_many_slow_header_senders_do_not_delay_other_users(
    server: LiveServer, token_for: TokenMinter
) -> None:
    token = token_for(new_user())

    async def slow_headers() -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for byte in b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            writer.close()

    attackers = [asyncio.create_task(slow_headers()) for _ in range(20)]
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        started = time.monotonic()
        live = await client.get("/health/live")
        created = await client.post(
            "/orders", json=order_body(), headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = time.monotonic() - started
    await asyncio.gather(*attackers, return_exceptions=True)
    assert live.status_code == 200
    assert created.status_code == 201
    assert elapsed < 2
