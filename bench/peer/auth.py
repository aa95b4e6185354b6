"""Litestar's JWTAuth verifying the bench's RS256 tokens with the public key."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token

from orders_app.settings import Settings


class User(msgspec.Struct):
    id: str


async def retrieve_user_handler(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    # Orders belong to the token's subject; there is no user table to look it up in.
    return User(id=token.sub)


def build_jwt_auth(settings: Settings) -> JWTAuth[User, Token]:
    if settings.jwt_public_key_file is None:
        raise SystemExit("the peer needs JWT_PUBLIC_KEY_FILE (a PEM public key)")
    return JWTAuth[User, Token](
        retrieve_user_handler=retrieve_user_handler,
        token_secret=settings.jwt_public_key_file.read_text(),
        algorithm="RS256",
        accepted_audiences=[settings.jwt_audience],
        accepted_issuers=[settings.jwt_issuer] if settings.jwt_issuer else None,
        require_claims=["exp", "iat", "sub", "aud"],
        exclude=["/health", "/schema"],
    )
