"""The Authorization header's value to the orders' owner: a verified bearer token's subject."""

from __future__ import annotations

from dataclasses import dataclass

from orders_app.auth.failures import EMPTY, MISSING, NOT_BEARER, InvalidToken
from orders_app.auth.verifier import TokenVerifier


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
