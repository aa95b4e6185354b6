"""uvicorn's h11 protocol, guarded: read deadlines, a 431 header bound, no Content-Length with
Transfer-Encoding."""

from __future__ import annotations

from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from orders_app.edge.guard import BAD_REQUEST_DETAIL, HEADERS_TOO_LARGE_DETAIL, ProtocolGuard, ProtocolLimits


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


class GuardedH11Protocol(ProtocolGuard, H11Protocol):
    def _guard_init(self, limits: ProtocolLimits) -> None:
        super()._guard_init(limits)
        self.conn = _GuardedH11Connection(limits.max_header_bytes)

    def handle_events(self) -> None:
        super().handle_events()
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def _refusal(self) -> tuple[int, str]:
        return getattr(self.conn, "refusal", None) or (400, BAD_REQUEST_DETAIL)

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
