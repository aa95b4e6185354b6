"""What both guarded uvicorn protocols share: their limits, the refusals they write, the read deadlines.

The one named departure from running uvicorn as shipped (docs/limits.md, "Slow clients"): uvicorn has
no timeout for reading a request's headers or body, bounds header bytes only on h11 (and answers 400,
not 431), serves a request carrying both Content-Length and Transfer-Encoding on h11 and keeps the
connection, and answers 503 to the health probes once `limit_concurrency` is reached. Each guarded
protocol is uvicorn's own, subclassed and passed as `http=` to uvicorn's Config (edge.protocols): its
documented extension point. Every uvicorn, h11 and httptools name they rely on is listed in
edge.uvicorn_surface, which tests/unit/test_uvicorn_surface.py checks against the installed versions.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from orders_app.edge.request_metrics import shed_by_status
from orders_app.edge.scope import SERVER_STATUS_KEY
from orders_app.observability.sink import MetricsSink
from orders_app.settings import Settings

PROBE_PREFIX = "/health/"

HEADER_TIMEOUT_DETAIL = "The request headers did not arrive in time."
BODY_TIMEOUT_DETAIL = "The request body did not arrive in time."
HEADERS_TOO_LARGE_DETAIL = "The request headers are too large."
BAD_REQUEST_DETAIL = "The request is not valid HTTP/1.1."

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class ProtocolLimits:
    """What the protocols enforce, bound into the protocol factory when the server is configured.

    Pickled with uvicorn's Config into each `--workers N` process, so every worker enforces the same.
    """

    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    metrics: MetricsSink

    @classmethod
    def from_settings(cls, settings: Settings, metrics: MetricsSink) -> ProtocolLimits:
        return cls(
            header_timeout=settings.header_read_timeout,
            body_timeout=settings.body_read_timeout,
            max_header_bytes=settings.max_header_bytes,
            metrics=metrics,
        )


def error_response(status: int, detail: str) -> bytes:
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


class ProtocolGuard(asyncio.Protocol):
    """Mixed in before uvicorn's protocol: header/body deadlines, the header byte bound, probe-exempt 503s.

    The header deadline runs from the moment the server waits for a request (connection open, or the
    previous response sent) until its header block is complete; the body deadline from then until the
    body is complete. On expiry the client gets a JSON 408 (unless a response has begun) and the
    connection is closed. Header bytes are counted as they arrive, so an unfinished header block
    cannot grow past `max_header_bytes` plus one read, whatever the parser buffers.
    """

    limits: ProtocolLimits
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    logger: logging.Logger
    cycle: Any
    scope: Any

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: Any = None,
        *,
        limits: ProtocolLimits,
    ) -> None:
        # The next class in the MRO is uvicorn's protocol, whose constructor takes these.
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self._guard_init(limits)

    def _guard_init(self, limits: ProtocolLimits) -> None:
        """Set up after uvicorn's constructor (which has just assigned limit_concurrency and conn)."""
        self.limits = limits
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

    # --- uvicorn's callbacks, extended the same way for both parsers -------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._reading_headers
            and not self.transport.is_closing()
            and self._header_bytes > self.limits.max_header_bytes
        ):
            self._refuse(431, HEADERS_TOO_LARGE_DETAIL)

    def send_400_response(self, msg: str) -> None:
        status, detail = self._refusal()
        self.logger.warning("%s (%d)", msg, status)
        self._refuse(status, detail)

    def _refusal(self) -> tuple[int, str]:
        """The status and detail for a request the parser rejected."""
        return 400, BAD_REQUEST_DETAIL

    # --- deadlines ---------------------------------------------------------------------------------

    def _await_request(self) -> None:
        """The server now waits for a request's header block: count its bytes and start its clock."""
        self._reading_headers = True
        self._header_bytes = 0
        self._cancel(self._header_timer)
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_expired)

    def _headers_done(self) -> None:
        """The header block is complete: its clock stops and the body's starts."""
        self._reading_headers = False
        self._cancel(self._header_timer)
        self._header_timer = None
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_expired)

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
            self.transport.write(error_response(408, BODY_TIMEOUT_DETAIL))
            cycle.scope[SERVER_STATUS_KEY] = 408
        # The application sees a disconnect, and anything it still sends is dropped by uvicorn.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()

    def _refuse(self, status: int, detail: str) -> None:
        # Before any application sees the request: RequestMetrics never counts these.
        shed_by_status(self.limits.metrics, status)
        self._stop_timers()
        self.transport.write(error_response(status, detail))
        self.transport.close()

    def _stop_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._body_timer)
        self._header_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
