"""Development tokens: what `orders-app token`, the tests and the benchmark sign with a private key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def mint_token(
    private_key: PrivateKeyTypes,
    *,
    subject: str,
    audience: str,
    issuer: str | None = None,
    ttl_seconds: int = 3600,
    kid: str | None = None,
    algorithm: str = "RS256",
    extra_claims: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if issuer:
        claims["iss"] = issuer
    claims.update(extra_claims or {})
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, private_key, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]
