"""Bearer authentication at the HTTP edge: a guard that turns the Authorization header into an owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from orders_app.auth.tokens import EMPTY, MISSING, NOT_BEARER, InvalidToken, TokenVerifier


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Verifies bearer tokens; or, only when the operator opted out of auth, serves one fixed subject."""

    verifier: TokenVerifier | None
    anonymous_subject: str = "anonymous"

    async def owner(self, authorization: str | None) -> str:
        if self.verifier is None:
            return self.anonymous_subject
        if not authorization:
            raise InvalidToken(MISSING, error="invalid_request")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise InvalidToken(NOT_BEARER, error="invalid_request")
        token = token.strip()
        if not token:
            raise InvalidToken(EMPTY, error="invalid_request")
        return await self.verifier.subject(token)


async def require_bearer_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: runs before the body is parsed, so an unauthenticated request learns nothing else."""
    authenticator: Authenticator = connection.app.state.authenticator
    connection.scope["user"] = await authenticator.owner(connection.headers.get("authorization"))
