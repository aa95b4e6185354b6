"""The access log: one JSON line per HTTP request, on standard output, with the request id in the response.

A pure-ASGI layer around the whole application (app.serving_stack) rather than Litestar middleware,
because Litestar's stack runs only for requests that matched a route: a 404 or 405 would not be logged.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from orders_app.edge.request_ids import REQUEST_ID_KEY, RequestIds, request_id_from
from orders_app.edge.scope import CLIENT_CLOSED_STATUS, SERVER_STATUS_KEY
from orders_app.observability.trace import trace_id_from


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
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_KEY]
                headers.append((REQUEST_ID_KEY, header_value))
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
    than the rest of a small request (docs/bench.md, "Access log writes"). The lines stay apart from
    the human-oriented logs on stderr. A line that cannot be written (stdout closed) is dropped, never
    the request.
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
