"""Drain before closing: after SIGTERM, keep serving for SHUTDOWN_DRAIN_SECONDS with /health/ready at 503.

uvicorn's Server.handle_exit starts the graceful shutdown at the first SIGTERM or SIGINT: the listening
socket and the idle keep-alive connections close at once, before a load balancer's health check has
noticed anything, so requests already on their way fail. Server.capture_signals installs handle_exit with
`signal.signal` before the ASGI lifespan starts, in a single process and in each `--workers` child alike
(the supervisor forwards SIGTERM to its children). Once the application has started, ShutdownDrain puts its
own handler in front of uvicorn's: the first signal starts the drain and reaches uvicorn's handler when the
drain ends; a second one reaches it at once, skipping the rest. Meanwhile the readiness probe answers 503
(api.health) and every response carries `Connection: close` (DrainingConnections), so no client or proxy
reuses a connection that is about to close. Every uvicorn name this relies on is in edge.uvicorn_surface.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from litestar.types import ASGIApp, HTTPScope, Message, Receive, Send

from orders_app.edge.http_layer import HttpLayer

logger = logging.getLogger("orders_app.shutdown")

DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DRAINING_DETAIL = "shutting down: draining connections; this replica takes no new work"

SignalHandler = Callable[[int, FrameType | None], Any]


class ShutdownDrain:
    """One process's drain: when it began, and the signal handlers it stands in front of."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._began_at: float | None = None
        self._signal: int | None = None
        self._handed_over = False
        self._previous: dict[int, SignalHandler] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def draining(self) -> bool:
        return self._began_at is not None

    def begin(self) -> None:
        """From now on the readiness probe answers 503 and responses close their connection."""
        if self._began_at is None:
            self._began_at = self._clock()

    def take_over_signals(self) -> None:
        """At application start-up: stand in front of the server's SIGTERM and SIGINT handlers.

        Nothing to do without a drain (0 s), off the main thread (an in-process test client), or where
        no Python handler is installed (the test runner): uvicorn's own behaviour is then unchanged.
        """
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        handlers = {sig: signal.getsignal(sig) for sig in DRAIN_SIGNALS}
        self._previous = {sig: handler for sig, handler in handlers.items() if callable(handler)}
        if not self._previous:
            return
        self._loop = asyncio.get_running_loop()
        for sig in self._previous:
            signal.signal(sig, self._on_signal)

    def release_signals(self) -> None:
        """At application shutdown: the server's own handlers again."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        # Runs between two bytecodes of the event loop's thread: only flags and a thread-safe wake-up here.
        if self._began_at is None:
            self.begin()
            self._signal = sig
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._start_timer)
        else:
            self._hand_over(sig, frame)

    def _start_timer(self) -> None:
        if self._handed_over or self._signal is None:
            return
        logger.info(
            "%s received: draining for %g s (readiness 503, connections closed after each response), "
            "then shutting down; send it again to skip the drain",
            signal.Signals(self._signal).name,
            self.seconds,
        )
        self._timer = asyncio.get_running_loop().call_later(self.seconds, self._hand_over, self._signal, None)

    def _hand_over(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's handler takes the signal: its graceful shutdown (a later SIGINT forces the exit)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._handed_over = True
        handler = self._previous.get(sig)
        if handler is not None:
            handler(sig, frame)


class DrainingConnections(HttpLayer):
    """Once the drain has begun, each response carries `Connection: close`: uvicorn then closes the
    connection after it (both parsers honour the application's header), so clients reconnect elsewhere."""

    def __init__(self, app: ASGIApp, drain: ShutdownDrain) -> None:
        super().__init__(app)
        self._drain = drain

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        drain = self._drain

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and drain.draining:
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self._app(scope, receive, send_closing)
