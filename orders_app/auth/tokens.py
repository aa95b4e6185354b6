"""JWT verification (PyJWT) against a fixed list of asymmetric algorithms, and dev-token minting."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from orders_app.auth.keys import VerificationKey

# Fixed in code and never read from the token: this is what stops `alg: none` and the classic
# "HS256 signed with the public key as the secret" forgery.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud")
SUBJECT_MAX_LENGTH = 255


class InvalidToken(Exception):
    """The bearer token is missing or unacceptable. The message never contains the token."""

    def __init__(self, description: str, *, error: str = "invalid_token") -> None:
        self.description = description
        self.error = error
        super().__init__(description)


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched (the fault is ours, not the client's)."""


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> VerificationKey: ...


@dataclass(frozen=True, slots=True)
class StaticKey:
    """One public key loaded at start-up (from a PEM public key or certificate)."""

    key: VerificationKey

    async def key_for(self, kid: str | None) -> VerificationKey:
        return self.key


class JwksKeys:
    """Keys from an identity provider's JWKS endpoint, cached and refreshed when an unknown `kid` arrives."""

    def __init__(self, url: str, *, refresh_cooldown: float = 10.0, timeout: float = 5.0) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=int(timeout))
        self._keys: dict[str | None, VerificationKey] = {}
        self._lock = asyncio.Lock()
        self._last_fetch = float("-inf")
        # Tokens with made-up kids must not turn into a flood of requests to the identity provider.
        self._refresh_cooldown = refresh_cooldown

    async def key_for(self, kid: str | None) -> VerificationKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._last_fetch >= self._refresh_cooldown:
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("token signing key is unknown")
        return key

    async def _refresh(self) -> None:
        self._last_fetch = time.monotonic()
        try:
            # PyJWKClient fetches with blocking urllib: keep it off the event loop.
            jwk_set = await asyncio.to_thread(self._client.get_jwk_set, True)
        except jwt.PyJWKClientError as error:
            raise KeysUnavailable(f"cannot fetch signing keys: {error}") from None
        keys: dict[str | None, VerificationKey] = {}
        for jwk in jwk_set.keys:
            if jwk.public_key_use in (None, "sig") and isinstance(jwk.key, VerificationKey):
                keys[jwk.key_id] = jwk.key
        if len(keys) == 1:
            # A provider with a single key may issue tokens without `kid`.
            keys[None] = next(iter(keys.values()))
        self._keys = keys


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        audience: str,
        issuer: str | None = None,
        leeway: float = 30.0,
    ) -> None:
        self._keys = keys
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway
        self._jwt = jwt.PyJWT(options={"require": list(REQUIRED_CLAIMS)})

    async def subject(self, token: str) -> str:
        """The verified token's `sub`, or InvalidToken saying what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise InvalidToken("token is malformed") from None
        kid = header.get("kid")
        key = await self._keys.key_for(kid if isinstance(kid, str) else None)
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
            )
        except jwt.InvalidTokenError as error:
            raise InvalidToken(_describe(error)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidToken("token subject is empty")
        if len(subject) > SUBJECT_MAX_LENGTH:
            raise InvalidToken("token subject is too long")
        return subject


def _describe(error: jwt.InvalidTokenError) -> str:
    match error:
        case jwt.ExpiredSignatureError():
            return "token has expired"
        case jwt.ImmatureSignatureError():
            return "token is not yet valid"
        case jwt.InvalidAudienceError():
            return "token audience is not accepted"
        case jwt.InvalidIssuerError():
            return "token issuer is not accepted"
        case jwt.MissingRequiredClaimError():
            return f"token lacks the required '{error.claim}' claim"
        case jwt.InvalidAlgorithmError():
            return "token algorithm is not accepted"
        case jwt.InvalidSignatureError():
            return "token signature is invalid"
        case jwt.DecodeError():
            return "token is malformed"
        case _:
            return "token is invalid"


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
