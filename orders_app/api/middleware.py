"""Pure-ASGI layers around the whole application: the access log and the in-flight request limit.

They wrap the Litestar application from outside (orders_app.app.serving_stack) rather than sitting
in Litestar's middleware stack, because that stack runs only for requests that matched a route: a 404
or 405 would be neither logged nor counted.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()

# A caller's id is echoed into our response and our logs, so it must be short and inert: no spaces,
# quotes or control characters that could forge a log line or split a header. Anything else is replaced.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")

OVERLOADED = "The service is handling too many requests; please retry shortly."


def request_id_from(headers: Iterable[tuple[bytes, bytes]], new_id: Callable[[], str] | None = None) -> str:
    """The caller's X-Request-ID when it is well-formed, otherwise a fresh one from `new_id`."""
    for name, value in headers:
        if name == _REQUEST_ID_KEY and _VALID_REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return new_id() if new_id is not None else uuid.uuid4().hex


class RequestIds:
    """Fresh request ids: 32 hex digits, a random per-process prefix and a counter.

    Unique across processes and restarts (the prefix has 64 random bits) without a system call per
    request, which uuid4() makes to read the OS's randomness. Request ids are labels, not secrets.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


class AccessLog:
    """One JSON line per HTTP request, written after the response has been sent.

    The line carries method, path (without the query string: it is client input of unbounded size
    and nothing an operator needs to follow a request), status, duration, request id and client
    address. Headers and bodies are never logged, so a bearer token cannot end up in a log file.
    Lines go to `write` as bytes, each ending in a newline; see stdout_lines().
    """

    def __init__(self, app: ASGIApp, write: Callable[[bytes], object]) -> None:
        self._app = app
        self._write = write
        self._new_id = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"], self._new_id)
        header_value = request_id.encode("ascii")
        status = 0

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _REQUEST_ID_KEY]
                headers.append((_REQUEST_ID_KEY, header_value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_request_id)
        except BaseException:
            # The server answers 500 when the application raises before responding.
            status = status or 500
            raise
        finally:
            client = scope.get("client")
            record = {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "event": "request",
                "method": scope["method"],
                "path": scope["path"],
                # 0: the client went away before any response was started.
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "request_id": request_id,
                "client": client[0] if client else None,
            }
            self._write(_ENCODE(record) + b"\n")


_ENCODE = msgspec.json.Encoder().encode


def stdout_lines(fd: int | None = None) -> Callable[[bytes], None]:
    """Write each access-log line to standard output with one unbuffered write.

    Not the logging module: a LogRecord, a handler lock, a formatter and a flush per line cost more
    than the rest of a small request (see docs/bench.md). The lines stay apart from the human-oriented
    logs on stderr. A line that cannot be written (stdout closed) is dropped, never the request.
    """
    target = sys.stdout.fileno() if fd is None else fd

    def write(line: bytes) -> None:
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(target, view) :]
        except OSError:
            return

    return write


class ConcurrencyLimit:
    """Answers 503 at once, as JSON with Retry-After, while `limit` requests are already in flight.

    Shedding load at the door keeps latency bounded for the requests that are admitted: without it an
    overloaded process queues every request (for the database pool, the SQLite write lock, the CPU)
    until clients time out, and the work done for them is wasted. The count is per process; with N
    workers the service admits N x limit. Paths under `exempt_prefixes` (the health probes) are never
    refused, so an orchestrator does not restart or drain a process merely because it is busy.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        *,
        exempt_prefixes: tuple[str, ...] = ("/health/",),
        retry_after_seconds: int = 1,
    ) -> None:
        self._app = app
        self._limit = limit
        self._exempt_prefixes = exempt_prefixes
        self._body = json.dumps({"detail": OVERLOADED}).encode()
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(retry_after_seconds).encode()),
        ]
        # One event loop per process: plain integer arithmetic between awaits needs no lock.
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(self._exempt_prefixes):
            await self._app(scope, receive, send)
            return
        if self.in_flight >= self._limit:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        start: Any = {"type": "http.response.start", "status": 503, "headers": self._headers}
        await send(start)
        body: Any = {"type": "http.response.body", "body": self._body, "more_body": False}
        await send(body)
