"""The access log: one line per HTTP request on standard output, with the request id in the response.

A pure-ASGI layer around the whole application (app.serving_stack) rather than Litestar middleware,
because Litestar's stack runs only for requests that matched a route: a 404 or 405 would not be logged.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Send

from orders_app.edge.http_layer import HttpLayer
from orders_app.edge.request_ids import REQUEST_ID_KEY, RequestIds, request_id_from
from orders_app.edge.scope import CLIENT_CLOSED_STATUS, SERVER_STATUS_KEY
from orders_app.observability.log_lines import Render, json_line, timestamp
from orders_app.observability.request_context import bind_request
from orders_app.observability.trace import trace_id_from

# The logger name access lines carry, beside the logging module's own loggers.
ACCESS_LOGGER = "orders_app.access"


class AccessLog(HttpLayer):
    """One line per HTTP request, written after the response has been sent, in the format of every line.

    The line carries method, path (without the query string: it is client input of unbounded size
    and nothing an operator needs to follow a request), status, duration, request id, W3C trace id
    (the caller's `traceparent`, else a new one) and client address. Headers and bodies are never
    logged, so a bearer token cannot end up in a log file.
    `render` makes each line (orders_app.observability.log_lines, LOG_FORMAT); they go to `write` as
    bytes, each ending in a newline; see stdout_lines(). The request's ids are bound for the lines the
    app logs while handling it (observability.request_context).
    """

    def __init__(self, app: ASGIApp, write: Callable[[bytes], object], render: Render = json_line) -> None:
        super().__init__(app)
        self._write = write
        self._render = render
        self._new_id = RequestIds()

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"], self._new_id)
        trace_id = trace_id_from(scope["headers"])
        bind_request(request_id, trace_id)
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
            method, path = scope["method"], scope["path"]
            line = {
                "timestamp": timestamp(),
                "level": "info",
                "logger": ACCESS_LOGGER,
                "message": f"{method} {path} {status}",
                "request_id": request_id,
                "trace_id": trace_id,
                "method": method,
                "path": path,
                # 0: the client went away before any response was started.
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None,
                # The client went away before the response (a dropped upload, a cancelled call):
                # logged as status 499, never as a server error.
                "client_closed": client_closed and SERVER_STATUS_KEY not in scope,
            }
            self._write(self._render(line))


def stdout_lines(fd: int | None = None) -> Callable[[bytes], None]:
    """Write each access-log line to standard output with one unbuffered write.

    Not the logging module: a LogRecord, a handler lock, a formatter and a flush per line cost more
    than the rest of a small request (docs/bench.md, "Access log writes"). The lines stay apart from
    the other logs on stderr, in the same format. A line that cannot be written (stdout closed) is
    dropped, never the request.
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
