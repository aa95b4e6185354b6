"""Pure-ASGI layers around the whole application: the access log, client aborts and the in-flight limits.

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
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from orders_app.observability.trace import trace_id_from

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()

# A caller's id is echoed into our response and our logs, so it must be short and inert: no spaces,
# quotes or control characters that could forge a log line or split a header. Anything else is replaced.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")

OVERLOADED = "The service is handling too many requests; please retry shortly."
SUBJECT_OVERLOADED = "You have too many requests in flight; please retry shortly."

# Set in the scope by the server (orders_app.server) when it answered on the application's behalf,
# e.g. 408 for a body that did not arrive in time; the access log reports that status.
SERVER_STATUS_KEY = "orders_app.server_status"

# nginx's convention for "the client closed the connection before the response": no real response.
CLIENT_CLOSED_STATUS = 499


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
    and nothing an operator needs to follow a request), status, duration, request id, W3C trace id
    (the caller's `traceparent`, else a new one) and client address. Headers and bodies are never
    logged, so a bearer token cannot end up in a log file.
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
        trace_id = trace_id_from(scope["headers"])
        header_value = request_id.encode("ascii")
        status = 0
        client_closed = False

        async def receive_watching_for_abort() -> ReceiveMessage:
            nonlocal client_closed
            message = await receive()
            if message["type"] == "http.disconnect" and not status:
                client_closed = True
            return message

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _REQUEST_ID_KEY]
                headers.append((_REQUEST_ID_KEY, header_value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive_watching_for_abort, send_with_request_id)
        except BaseException:
            # The server answers 500 when the application raises before responding.
            status = status or 500
            raise
        finally:
            if client_closed or status == CLIENT_CLOSED_STATUS:
                client_closed = True
                status = CLIENT_CLOSED_STATUS
            status = int(scope.get(SERVER_STATUS_KEY, status))  # type: ignore[call-overload]
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
                "trace_id": trace_id,
                "client": client[0] if client else None,
                # The client went away before the response (a dropped upload, a cancelled call):
                # logged as status 499, never as a server error.
                "client_closed": client_closed and SERVER_STATUS_KEY not in scope,
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


class ClientDisconnected(Exception):
    """The client closed the connection before its request body was complete (not our fault)."""


class ClientAborts:
    """Turns a disconnect in the middle of a request body into ClientDisconnected.

    Litestar reports it as an internal server error (500, logged at ERROR), so anyone could flood the
    error alerts by dropping uploads. The typed exception is mapped once in api/errors.py to the 499
    client-closed status, without an ERROR line. Disconnects after the body pass through unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        body_complete = False

        async def receive_or_raise() -> ReceiveMessage:
            nonlocal body_complete
            message = await receive()
            if message["type"] == "http.request":
                body_complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect" and not body_complete:
                raise ClientDisconnected
            return message

        await self._app(scope, receive_or_raise, send)


async def send_overloaded(send: Send, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: Any = {"type": "http.response.start", "status": 503, "headers": headers}
    await send(start)
    message: Any = {"type": "http.response.body", "body": body, "more_body": False}
    await send(message)


def overloaded_response(detail: str, retry_after_seconds: int = 1) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of a load-shedding 503: JSON `detail` and Retry-After."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_seconds).encode()),
    ]
    return headers, body


class SubjectLimit:
    """At most `limit` requests in flight per authenticated subject (process-wide, shared by routes).

    One user's slow uploads or stuck calls must not take every MAX_CONCURRENCY slot: past their share
    they get the same JSON 503 with Retry-After as an overloaded process, and other users are served.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight: dict[str, int] = {}
        self.headers, self.body = overloaded_response(SUBJECT_OVERLOADED)

    def acquire(self, subject: str) -> bool:
        count = self.in_flight.get(subject, 0)
        if count >= self.limit:
            return False
        self.in_flight[subject] = count + 1
        return True

    def release(self, subject: str) -> None:
        count = self.in_flight[subject] - 1
        if count:
            self.in_flight[subject] = count
        else:
            del self.in_flight[subject]


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
        on_refuse: Callable[[], object] | None = None,
    ) -> None:
        self._app = app
        self._on_refuse = on_refuse
        self._limit = limit
        self._exempt_prefixes = exempt_prefixes
        self._headers, self._body = overloaded_response(OVERLOADED, retry_after_seconds)
        # One event loop per process: plain integer arithmetic between awaits needs no lock.
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(self._exempt_prefixes):
            await self._app(scope, receive, send)
            return
        if self.in_flight >= self._limit:
            if self._on_refuse is not None:
                self._on_refuse()
            await send_overloaded(send, self._headers, self._body)
            return
        self.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self.in_flight -= 1
