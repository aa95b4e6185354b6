"""Bearer authentication at the HTTP edge: turns the Authorization header into the orders' owner."""

from __future__ import annotations

from collections.abc import Iterable

from litestar import Litestar
from litestar.exceptions import ClientException
from litestar.types import HTTPScope, Receive, Send

from orders_app.auth.authenticator import Authenticator
from orders_app.auth.failures import DESCRIPTIONS, TOO_LARGE, InvalidToken
from orders_app.edge.http_layer import HttpLayer
from orders_app.observability.sink import MetricsSink

# An RS256 JWT with the usual claims is under 1 KiB; anything past this is refused before any base64,
# JSON or signature work, so junk tokens cost no CPU (docs/limits.md).
MAX_AUTHORIZATION_BYTES = 8192
DUPLICATE_AUTHORIZATION = "the request carries more than one Authorization header"


class BearerAuthentication(HttpLayer):
    """Litestar middleware for the orders routes: the verified token's subject goes to scope["user"].

    It runs after routing and before Litestar parses parameters or the body, so an unauthenticated
    request learns nothing else (a malformed id or body still answers 401), and an InvalidToken it
    raises goes through the one error map like any other error. Middleware rather than a Litestar
    guard: Litestar copies the route handler object for every guard call, which cost more per request
    than remembering a verified token.
    """

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        state = Litestar.from_scope(scope).state
        authenticator: Authenticator = state.authenticator
        try:
            scope["user"] = await authenticator.owner(_authorization_header(scope["headers"]))
        except InvalidToken as error:
            # Every InvalidToken is raised here and answered 401 by the error map; the label comes
            # from the fixed set of descriptions only, so clients cannot add series.
            metrics: MetricsSink = state.metrics
            metrics.auth_failure(error.description if error.description in DESCRIPTIONS else "other")
            raise
        await self._app(scope, receive, send)


def _authorization_header(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    found: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            if found is not None:
                # Which of two credentials counts would depend on the proxy or library in between.
                raise ClientException(DUPLICATE_AUTHORIZATION)
            found = value
    if found is None:
        return None
    if len(found) > MAX_AUTHORIZATION_BYTES:
        raise InvalidToken(TOO_LARGE, error="invalid_request")
    return found.decode("latin-1")
