"""A real `orders-app serve` process on 127.0.0.1 for the tests that need true concurrency or faults.

The in-process test client drives the app on the test's own event loop, one request at a time in
practice; the hardening tests need many sockets in flight at once, a server that can be SIGKILLed,
and a database that can vanish under a running process. This module starts the console command
exactly as an operator would, with the environment the test gives it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from tests.processes import StartedProcess, output_so_far

CLI = [sys.executable, "-m", "orders_app"]


# Ports for servers the tests start: below Linux's ephemeral range (32768-60999), where no client socket
# takes one between the pick and the bind; 1,000 per xdist worker (gw0-gw11), so workers never pick alike.
PORTS_PER_WORKER = 1_000
FIRST_PORT = 20_000
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
# A process-specific start inside the block, so that two test runs at once seldom try the same ports.
_candidates = itertools.cycle(
    FIRST_PORT + _worker * PORTS_PER_WORKER + (offset + os.getpid()) % PORTS_PER_WORKER
    for offset in range(PORTS_PER_WORKER)
)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds now and that this run hands out once per 1,000 picks."""
    for port in itertools.islice(_candidates, PORTS_PER_WORKER):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port among the {PORTS_PER_WORKER} of this worker")


def base_env(**extra: str) -> dict[str, str]:
    """The test runner's environment without any app setting it may carry, plus `extra`."""
    prefixes = (
        "DB_",
        "JWT_",
        "AUTH_",
        "MAX_",
        "ACCESS_LOG",
        "KEEPALIVE",
        "MIGRATE_",
        "SQLITE_",
        "HTTP_",
        "HEADER_",
        "BODY_",
        "LOG_",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(extra)
    return env


class LiveServer(StartedProcess):
    """`orders-app serve` on a free port; stdout (the access log) and stderr go to files in `workdir`."""

    def __init__(
        self, workdir: Path, env: Mapping[str, str], *, port: int | None = None, args: Sequence[str] = ()
    ) -> None:
        self.workdir = workdir
        self.args = list(args)
        self.env = dict(env)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.stdout_path = workdir / f"server-{self.port}.out"
        self.stderr_path = workdir / f"server-{self.port}.err"
        self._files: list[IO[bytes]] = []

    def start(self, timeout: float = 60.0, probe: str = "/health/live") -> LiveServer:
        """Start `serve` and return once `probe` answers 200."""
        stdout = self.stdout_path.open("ab")
        stderr = self.stderr_path.open("ab")
        self._files = [stdout, stderr]
        self.process = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port), *self.args],
            cwd=self.workdir,
            env=self.env,
            stdout=stdout,
            stderr=stderr,
        )
        deadline = time.monotonic() + timeout
        # One client for every poll: a client per poll builds a TLS context each time, CPU that a
        # starting server on a busy machine needs more.
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.stderr()}")
                try:
                    if client.get(f"{self.url}{probe}").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve did not answer {probe} within {timeout} s:\n{self.stderr()}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flushing, exactly like an OOM kill or a power cut."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._close_files()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._close_files()

    def _close_files(self) -> None:
        for handle in self._files:
            handle.close()
        self._files = []

    def stdout(self) -> str:
        return output_so_far(self.stdout_path)

    def stderr(self) -> str:
        return output_so_far(self.stderr_path)


async def stored_order_ids(db_url: str, owners: list[str]) -> list[str]:
    """Every order id in the database for `owners`, read directly, not through the API under test."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from orders_app.db.tables import orders_table
    from orders_app.db.url import async_url

    engine = create_async_engine(async_url(db_url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(orders_table.c.id).where(orders_table.c.owner.in_(owners)))
            return [str(row.id) for row in rows]
    finally:
        await engine.dispose()


def raw_exchange(port: int, request: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it (or `timeout`).

    A reset or a broken pipe ends the exchange like a close: the server hanging up part-way through a
    hostile request is expected, and what it answered before is already in the buffer.
    """
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response; 0 when nothing came back."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response[9:12])


def access_log(server: LiveServer) -> list[dict[str, object]]:
    """The access lines of a server started with LOG_FORMAT=json (the `server` fixture's)."""
    import json

    return [json.loads(line) for line in server.stdout().splitlines()]


# Both uvicorn parsers: h11 (the development default without extras) and httptools (the image's).
PARSERS = ("h11", "httptools")
