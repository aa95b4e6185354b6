"""SIGTERM drains before closing: readiness 503 at once, requests still served, connections closed after each.

`orders-app serve` with SHUTDOWN_DRAIN_SECONDS keeps its listening socket and keep-alive connections for the
drain, answers /health/ready with 503 and the reason, closes each connection after its response
(`Connection: close`), then runs uvicorn's graceful shutdown and exits 0. A second SIGTERM skips the rest of
the drain, with one process and under `--workers 2` (the supervisor passes it on).
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orders_app.auth.keys import KeyPair
from orders_app.edge.drain import DRAINING_DETAIL
from tests.conftest import run_migrations
from tests.live.conftest import both_parsers
from tests.live_server import LiveServer, base_env

pytestmark = pytest.mark.slow

PROBE = b"GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _serve(workdir: Path, keys: KeyPair, drain: float, *args: str, parser: str = "auto") -> LiveServer:
    url = f"sqlite:///{workdir / 'orders.db'}"
    run_migrations(url)
    env = base_env(
        DB_URL=url,
        MIGRATE_ON_START="false",
        JWT_PUBLIC_KEY_FILE=str(keys.public_key),
        SHUTDOWN_DRAIN_SECONDS=str(drain),
        **({} if parser == "auto" else {"HTTP_PARSER": parser}),
    )
    return LiveServer(workdir, env, args=args).start(probe="/health/ready")


@pytest.fixture
def stopped_at_the_end() -> Iterator[list[LiveServer]]:
    servers: list[LiveServer] = []
    yield servers
    for server in servers:
        server.kill()


def _read_response(sock: socket.socket) -> bytes:
    """One response on a keep-alive connection: its head, then Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head.lower()


def _ready_status(url: str) -> int:
    return httpx.get(f"{url}/health/ready", timeout=5).status_code


@both_parsers
def test_sigterm_drains_then_shuts_down(
    http_parser: str, tmp_path: Path, keys: KeyPair, stopped_at_the_end: list[LiveServer]
) -> None:
    server = _serve(tmp_path, keys, 3, parser=http_parser)
    stopped_at_the_end.append(server)
    assert server.process is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as kept_alive:
        kept_alive.sendall(PROBE)
        assert _read_response(kept_alive).startswith(b"http/1.1 200")
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # The connection opened before SIGTERM is still served, told to close, and closed.
        kept_alive.sendall(PROBE)
        head = _read_response(kept_alive)
        assert head.startswith(b"http/1.1 503")
        assert b"\r\nconnection: close" in head
        assert kept_alive.recv(1) == b""
    # New connections are still accepted, and readiness says why it refuses.
    during = httpx.get(f"{server.url}/health/ready", timeout=5)
    assert during.status_code == 503
    assert during.json() == {"detail": DRAINING_DETAIL}
    assert during.headers["connection"] == "close"
    assert httpx.get(f"{server.url}/health/live", timeout=5).status_code == 200
    assert server.process.wait(30) == 0
    assert time.monotonic() - signalled >= 3


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_sigterm_skips_the_rest_of_the_drain(
    workers: int, tmp_path: Path, keys: KeyPair, stopped_at_the_end: list[LiveServer]
) -> None:
    server = _serve(tmp_path, keys, 60, "--workers", str(workers))
    stopped_at_the_end.append(server)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    # With --workers the supervisor passes SIGTERM on within its 0.5 s poll; every worker drains.
    while any(_ready_status(server.url) != 503 for _ in range(4)):
        assert time.monotonic() < deadline, "readiness never turned 503"
        time.sleep(0.2)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 0
