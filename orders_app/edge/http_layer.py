"""The frame every pure-ASGI layer here shares: HTTP requests go to its `handle`, any other scope passes."""

from __future__ import annotations

from abc import ABC, abstractmethod

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send


class HttpLayer(ABC):
    """An ASGI layer around `app` that acts on HTTP requests only.

    Lifespan events (and any other scope type) reach `app` untouched, so that a layer never delays or
    answers the server's start-up and shutdown.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        """One HTTP request; `self._app` serves it (or the layer answers it itself)."""
