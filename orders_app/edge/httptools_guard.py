"""uvicorn's httptools protocol (the `speedups` extra), guarded: read deadlines and a 431 header bound."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orders_app.edge.guard import HEADERS_TOO_LARGE_DETAIL, ProtocolGuard, ProtocolLimits


class GuardedHttpToolsProtocol(ProtocolGuard, HttpToolsProtocol):
    def _guard_init(self, limits: ProtocolLimits) -> None:
        super()._guard_init(limits)
        self._block_size = 0
        # Whether the parser has read the whole current request (none yet counts as read).
        self._message_read = True

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

    def on_response_complete(self) -> None:
        if not self.transport.is_closing() and not self.pipeline and self._message_read:
            self._await_request()
        super().on_response_complete()
