"""Client aborts: a request body cut short by the client is its doing, not a server error."""

from __future__ import annotations

from litestar.types import HTTPScope, Receive, ReceiveMessage, Send

from orders_app.edge.http_layer import HttpLayer


class ClientDisconnected(Exception):
    """The client closed the connection before its request body was complete (not our fault)."""


class ClientAborts(HttpLayer):
    """Turns a disconnect in the middle of a request body into ClientDisconnected.

    Litestar reports it as an internal server error (500, logged at ERROR), so anyone could flood the
    error alerts by dropping uploads. The typed exception is mapped once in api/errors.py to the 499
    client-closed status, without an ERROR line. Disconnects after the body pass through unchanged.
    """

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
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
