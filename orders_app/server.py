"""uvicorn's HTTP protocols with the read deadlines and header bound that uvicorn 0.54 lacks.

The one named departure from running uvicorn as shipped (docs/limits.md, "Slow clients"): uvicorn has
no timeout for reading a request's headers or body, bounds header bytes only on h11 (and answers 400,
not 431), serves a request carrying both Content-Length and Transfer-Encoding on h11 and keeps the
connection, and answers 503 to the health probes once `limit_concurrency` is reached. Each class
below is uvicorn's own protocol, subclassed and passed as `http=` to uvicorn's Config: its documented
extension point. The hooks used are the protocol callbacks asyncio and the parsers call
(connection_made, data_received, on_headers_complete, ...); uvicorn is pinned by uv.lock and
tests/api/test_slow_clients.py, test_header_limits.py and test_request_smuggling.py run every hook on
both parsers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from orders_app.api.middleware import SERVER_STATUS_KEY
from orders_app.observability.metrics import shed_by_status
from orders_app.settings import Settings, SettingsError

PROBE_PREFIX = "/health/"

HEADER_TIMEOUT_DETAIL = "The request headers did not arrive in time."
BODY_TIMEOUT_DETAIL = "The request body did not arrive in time."
HEADERS_TOO_LARGE_DETAIL = "The request headers are too large."
BAD_REQUEST_DETAIL = "The request is not valid HTTP/1.1."

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _Limits:
    """What the protocols enforce; set by server_protocol() before uvicorn creates any protocol.

    A worker process that uvicorn spawns (`--workers N`) imports this module afresh and reads the
    same settings from the environment once, on its first connection.
    """

    configured = False
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 16_384

    @classmethod
    def load(cls) -> None:
        if not cls.configured:
            settings = Settings.from_env()
            cls.header_timeout = settings.header_read_timeout
            cls.body_timeout = settings.body_read_timeout
            cls.max_header_bytes = settings.max_header_bytes
            cls.configured = True


def _error_response(status: int, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _Deadlines:
    """Shared by both parsers: header/body deadlines, the header byte bound, probe-exempt 503s.

    The header deadline runs from the moment the server waits for a request (connection open, or the
    previous response sent) until its header block is complete; the body deadline from then until the
    body is complete. On expiry the client gets a JSON 408 (unless a response has begun) and the
    connection is closed. Header bytes are counted as they arrive, so an unfinished header block
    cannot grow past `max_header_bytes` plus one read, whatever the parser buffers.
    """

    limits: type[_Limits] = _Limits
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    scope: Any

    def _deadlines_init(self) -> None:
        _Limits.load()
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0

    # uvicorn refuses every request with a plain-text 503 once `limit_concurrency` connections are
    # open; the health probes must keep answering, so the limit reads as unset for them. uvicorn reads
    # this attribute only at that check, after it has set self.scope for the new request.
    @property
    def limit_concurrency(self) -> int | None:
        scope = getattr(self, "scope", None)
        if scope is not None and str(scope.get("path", "")).startswith(PROBE_PREFIX):
            return None
        return self._connection_limit

    @limit_concurrency.setter
    def limit_concurrency(self, value: int | None) -> None:
        self._connection_limit = value

    # --- deadlines ---------------------------------------------------------------------------------

    def _await_request(self) -> None:
        """The server now waits for a request's header block: count its bytes and start its clock."""
        self._reading_headers = True
        self._header_bytes = 0
        self._cancel(self._header_timer)
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_expired)

    def _headers_done(self) -> bool:
        """The header block is complete; False (and the connection answered and closed) if too large."""
        self._reading_headers = False
        self._cancel(self._header_timer)
        self._header_timer = None
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_expired)
        return True

    def _body_done(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None

    def _header_expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._reading_headers:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; the next header block's clock starts after it
        self._refuse(408, HEADER_TIMEOUT_DETAIL)

    def _body_expired(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None:
            return
        if not cycle.response_started:
            self.transport.write(_error_response(408, BODY_TIMEOUT_DETAIL))
            cycle.scope[SERVER_STATUS_KEY] = 408
        # The application sees a disconnect, and anything it still sends is dropped by uvicorn.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()

    def _count_header_bytes(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)

    def _header_bytes_exceeded(self) -> bool:
        return (
            self._reading_headers
            and not self.transport.is_closing()
            and self._header_bytes > self.limits.max_header_bytes
        )

    def _refuse(self, status: int, detail: str) -> None:
        # Before any application sees the request: RequestMetrics never counts these.
        shed_by_status(status)
        self._stop_timers()
        self.transport.write(_error_response(status, detail))
        self.transport.close()

    def _stop_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._body_timer)
        self._header_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def _header_block_size(method: bytes, target: bytes, headers: Any) -> int:
    # Request line and "name: value\r\n" per field, as the client sent them.
    return len(method) + len(target) + 12 + sum(len(name) + len(value) + 4 for name, value in headers)


class _GuardedH11Connection(h11.Connection):
    """h11's connection, refusing what h11 itself lets through (RFC 9112 sections 5 and 6.3)."""

    def __init__(self, max_header_bytes: int) -> None:
        # h11 raises "431" itself for an unfinished header block over this size; the protocol counts
        # arriving bytes too, so this is only a backstop against one large read.
        super().__init__(h11.SERVER, max_incomplete_event_size=max_header_bytes)
        self._max_header_bytes = max_header_bytes
        self.refusal: tuple[int, str] | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as error:
            if error.error_status_hint == 431:
                self.refusal = (431, HEADERS_TOO_LARGE_DETAIL)
            else:
                self.refusal = (400, BAD_REQUEST_DETAIL)
            raise
        if isinstance(event, h11.Request):
            names = {name for name, _ in event.headers}
            if b"transfer-encoding" in names and b"content-length" in names:
                # A front proxy may have framed this request differently: a smuggling attempt.
                self.refusal = (400, BAD_REQUEST_DETAIL)
                raise h11.RemoteProtocolError("Content-Length with Transfer-Encoding", error_status_hint=400)
            size = _header_block_size(event.method, event.target, event.headers.raw_items())
            if size > self._max_header_bytes:
                self.refusal = (431, HEADERS_TOO_LARGE_DETAIL)
                raise h11.RemoteProtocolError("header block too large", error_status_hint=431)
        return event


class GuardedH11Protocol(_Deadlines, H11Protocol):
    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], _loop: Any = None
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadlines_init()
        self.conn = _GuardedH11Connection(self.limits.max_header_bytes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._count_header_bytes(data)
        super().data_received(data)
        if self._header_bytes_exceeded():
            self._refuse(431, HEADERS_TOO_LARGE_DETAIL)

    def handle_events(self) -> None:
        super().handle_events()
        self._track()

    def _track(self) -> None:
        # h11's state for the client says how far its request has been read.
        state = self.conn.their_state
        if state in (h11.SEND_BODY, h11.DONE, h11.MUST_CLOSE) and self._reading_headers:
            self._headers_done()
        if state in (h11.DONE, h11.MUST_CLOSE):
            self._body_done()
        # IDLE again: the request was read and answered (in either order); the next one's clock starts.
        if (
            state is h11.IDLE
            and not self._reading_headers
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        ):
            self._await_request()

    def send_400_response(self, msg: str) -> None:
        refusal = getattr(self.conn, "refusal", None) or (400, BAD_REQUEST_DETAIL)
        self.logger.warning("%s (%d)", msg, refusal[0])
        self._refuse(*refusal)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # without the `speedups` extra: h11 only
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(_Deadlines, HttpToolsProtocol):
        def __init__(
            self, config: Config, server_state: ServerState, app_state: dict[str, Any], _loop: Any = None
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self._deadlines_init()
            self._block_size = 0
            # Whether the parser has read the whole current request (none yet counts as read).
            self._message_read = True

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_request()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timers()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._count_header_bytes(data)
            super().data_received(data)
            if self._header_bytes_exceeded():
                self._refuse(431, HEADERS_TOO_LARGE_DETAIL)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._block_size = 12

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            self._block_size += len(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            super().on_header(name, value)
            self._block_size += len(name) + len(value) + 4

        def on_headers_complete(self) -> None:
            self._message_read = False
            self._headers_done()
            if self._block_size > self.limits.max_header_bytes:
                # Raising stops the parser; data_received answers from the flag set here.
                self._refuse(431, HEADERS_TOO_LARGE_DETAIL)
                return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if self.transport.is_closing():
                return
            super().on_body(body)

        def on_message_complete(self) -> None:
            self._body_done()
            self._message_read = True
            if self.transport.is_closing():
                return
            if self.cycle is not None and self.cycle.response_complete and not self.pipeline:
                # Answered before its body was read (a 401, a 503): the next request's clock starts.
                self._await_request()
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            self.logger.warning("%s (400)", msg)
            self._refuse(400, BAD_REQUEST_DETAIL)

        def on_response_complete(self) -> None:
            if not self.transport.is_closing() and not self.pipeline and self._message_read:
                self._await_request()
            super().on_response_complete()


def server_protocol(
    parser: str, *, header_timeout: float, body_timeout: float, max_header_bytes: int
) -> type[asyncio.Protocol]:
    """The protocol class to pass as uvicorn's `http=`; "auto" prefers httptools when installed."""
    _Limits.header_timeout = header_timeout
    _Limits.body_timeout = body_timeout
    _Limits.max_header_bytes = max_header_bytes
    _Limits.configured = True
    if parser in ("auto", "httptools"):
        if HttpToolsProtocol is not None:
            return GuardedHttpToolsProtocol
        if parser == "httptools":
            raise SettingsError("HTTP_PARSER=httptools but httptools is not installed (the `speedups` extra)")
    return GuardedH11Protocol
