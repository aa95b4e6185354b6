"""Litestar application hooks."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


async def complete_allow_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: an OPTIONS answer lists every method of the resource in `Allow`.

    Litestar 2 builds the automatic OPTIONS handler of a path from the first handler registered on
    it, so `OPTIONS /orders` said `Allow: OPTIONS, POST` without GET (litestar-org/litestar#4169,
    fixed only in Litestar 3). The route itself knows all its methods; this copies them into the
    header. Asynchronous, because Litestar runs a synchronous hook in a worker thread for every
    message of every response; anything but the start of an OPTIONS response returns at once.
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    for route in Litestar.from_scope(scope).routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            MutableScopeHeaders.from_message(message)["allow"] = ", ".join(sorted(route.methods))
            return
